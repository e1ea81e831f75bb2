# Certificates, keys and kubeconfigs of the e2e cluster, made with openssl.
# Needs STATE_DIR, NODE_IP, SERVICE_IP (the `kubernetes` service's ClusterIP), NODE_NAME.

PKI_DIR() { echo "$STATE_DIR/pki"; }

# sign NAME SUBJECT [SANS] [EXT]: a key and a certificate signed by the cluster CA.
sign() {
  local name=$1 subject=$2 sans=${3:-} usage=${4:-clientAuth} dir; dir=$(PKI_DIR)
  openssl genrsa -out "$dir/$name.key" 2048 2>/dev/null
  openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# kubeconfig NAME CERT SERVER: a kubeconfig that authenticates with CERT's client certificate.
kubeconfig() {
  local name=$1 cert=$2 server=$3 dir; dir=$(PKI_DIR)
  cat >"$STATE_DIR/$name.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: dockyard-e2e
  cluster:
    certificate-authority-data: $(base64 -w0 <"$dir/ca.crt")
    server: $server
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$dir/$cert.crt")
    client-key-data: $(base64 -w0 <"$dir/$cert.key")
contexts:
- name: dockyard-e2e
  context: {cluster: dockyard-e2e, user: $name}
current-context: dockyard-e2e
KUBECONFIG
  chmod 600 "$STATE_DIR/$name.kubeconfig"
}

# make_pki: everything, once per cluster state.
make_pki() {
  local dir; dir=$(PKI_DIR)
  [[ -f $dir/.complete ]] && return 0
  mkdir -p "$dir"; chmod 700 "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 365 \
    -subj "/CN=dockyard-e2e-ca" 2>/dev/null
  sign apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    serverAuth
  sign admin "/O=system:masters/CN=dockyard-e2e-admin"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  sign controller-manager "/CN=system:kube-controller-manager"
  sign scheduler "/CN=system:kube-scheduler"
  sign kube-proxy "/CN=system:kube-proxy"
  sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  sign kubelet-serving "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME" serverAuth
  openssl genrsa -out "$dir/service-account.key" 2048 2>/dev/null
  openssl rsa -in "$dir/service-account.key" -pubout -out "$dir/service-account.pub" 2>/dev/null
  local server="https://$NODE_IP:6443"
  kubeconfig admin admin "$server"
  kubeconfig controller-manager controller-manager "$server"
  kubeconfig scheduler scheduler "$server"
  kubeconfig kube-proxy kube-proxy "$server"
  kubeconfig kubelet kubelet "$server"
  touch "$dir/.complete"
}
