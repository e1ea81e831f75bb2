#!/usr/bin/env bash
# Network isolation on the real node (kube-router enforcing NetworkPolicies):
# each class's sandboxes get the network its `spec.network` states, as one
# NetworkPolicy per class and namespace that the controller keeps. Only local
# addresses are probed: the node's (kubelet, API server), the kubernetes
# Service, and a second tenant's sandbox standing in for "someone else".
#
#   - a DinD sandbox of the default class (egress: the internet except private
#     ranges) and the containers its daemon starts reach neither the kubelet,
#     the API server, the Service IP nor the other tenant's sandbox; the
#     workload reaches its own containers;
#   - a sandbox of a class allowing exactly the other tenant's address and port
#     reaches it (the positive control: the target listens and lets that
#     namespace in), and nothing else;
#   - a brokered sandbox's Pod is fenced the same way, and the containers it
#     starts on the node's daemon join its own Docker network, not the node's
#     default bridge: another tenant's brokered containers are out of reach;
#   - the Sandbox's status names its policy and says what it allows; a class
#     change reaches running sandboxes; a policy removed is put back; a sandbox
#     Pod cannot be relabelled out of its policy.
# Containers a brokered sandbox starts on the node's daemon are not Pods: the
# agent's nftables rules fence them (its own Pod alone reaches them; they reach
# no node, private or metadata address).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$E2E_DIR/lib/log.sh"
source "$E2E_DIR/lib/checks.sh"
source "$E2E_DIR/lib/chart-values.sh"

start_node_with_images
NS=e2e-network
OTHER=e2e-network-other
dump() {
  kubectl get sandboxes,pods,networkpolicies -A -o wide >&2 || true
  kubectl -n "$1" describe sandbox "$2" >&2 || true
  kubectl -n dockyard-system logs deploy/dockyard-controller --tail=30 >&2 || true
}
in_sandbox() { # NAMESPACE SANDBOX COMMAND: runs COMMAND as the workload's user
  kubectl -n "$1" exec "sbx-$2" -c workload -- sh -c "$3" 2>&1 || true
}
# What a sandbox (or a container it starts) sees of HOST:PORT: "reached" when
# the target's httpd answers, "open" when something else accepts, else "closed".
# busybox's nc: a connection and an HTTP request by hand.
probe() { # NAMESPACE SANDBOX HOST PORT [RUNNER]
  local runner=${5:-busybox}
  in_sandbox "$1" "$2" "printf 'GET /x HTTP/1.0\r\n\r\n' | $runner nc -w 3 $3 $4 > /tmp/probe 2>&1 && { grep -q reached /tmp/probe && echo reached || echo open; } || echo closed"
}
# From a container the sandbox's own daemon starts.
probe_container() { # NAMESPACE SANDBOX HOST PORT
  in_sandbox "$1" "$2" "docker run --rm dockyard/busybox:1 sh -c \"printf 'GET /x HTTP/1.0\r\n\r\n' | nc -w 3 $3 $4 > /tmp/probe 2>&1 && { grep -q reached /tmp/probe && echo reached || echo open; } || echo closed\""
}
ready() { # NAMESPACE SANDBOX
  if kubectl -n "$1" wait "sandbox/$2" --for=condition=Ready --timeout=180s >/dev/null; then
    pass "$1/$2 Ready"
  else
    dump "$1" "$2"; fail "$1/$2 did not become Ready"
  fi
}

# sandbox NAMESPACE NAME MODE [SPEC]: applies a Sandbox of the test image, as
# user dev, whose Docker mode is MODE (dind, none, or hostSocket: brokered),
# with SPEC's further lines of its spec.
sandbox() {
  local docker="{mode: $3}"
  [[ $3 == hostSocket ]] && docker="{mode: hostSocket, hostSocket: {access: brokered}}"
  kubectl -n "$1" apply -f - >/dev/null <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: Sandbox
metadata: {name: $2}
spec:
  image: dockyard-sandbox:latest
  imagePullPolicy: IfNotPresent
  user: {name: dev}
  docker: $docker
${4:-}
YAML
}

step "helm install"
install_dockyard
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=60s >/dev/null &&
  pass "the node agent runs" || fail "the node agent is not ready"
node_ip=$(kubectl get node dockyard-node -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
service_ip=$(kubectl get service kubernetes -o jsonpath='{.spec.clusterIP}')
api_port=$(kubectl get endpointslices -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[0].ports[0].port}')
info "node $node_ip (kubelet 10250, API server $api_port), kubernetes Service $service_ip:443"

step "someone else: a sandbox in another namespace serving on 8080, open to $NS"
kubectl create namespace "$NS" >/dev/null 2>&1 || true
kubectl create namespace "$OTHER" >/dev/null 2>&1 || true
kubectl apply -f - >/dev/null <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-net-target}
spec:
  allowedDockerModes: [none]
  network: {egress: None, ingressFromNamespaces: [$NS]}
YAML
sandbox "$OTHER" target none '  className: e2e-net-target
  command: [sh, -c, "mkdir -p /tmp/www && echo reached > /tmp/www/x && exec busybox httpd -f -p 8080 -h /tmp/www"]'
sandbox "$OTHER" neighbour hostSocket
ready "$OTHER" target
ready "$OTHER" neighbour
target_ip=$(kubectl -n "$OTHER" get sandbox target -o jsonpath='{.status.podIP}')
info "the other tenant's sandbox serves on $target_ip:8080"

step "sandboxes of $NS: DinD and brokered of the default class, and one of a class listing the target"
kubectl apply -f - >/dev/null <<YAML
apiVersion: dockyard.dev/v1alpha1
kind: SandboxClass
metadata: {name: e2e-net-listed}
spec:
  allowedDockerModes: [none]
  network:
    egress: None
    # The other tenant's sandbox, and (on purpose) the node's kubelet port.
    egressTo:
      - {cidr: "$target_ip/32", ports: [{port: 8080}]}
      - {cidr: "$node_ip/32", ports: [{port: 10250}]}
YAML
sandbox "$NS" dind dind
sandbox "$NS" brokered hostSocket
sandbox "$NS" listed none '  className: e2e-net-listed'
for name in dind brokered listed; do ready "$NS" "$name"; done

step "the policies, and what each Sandbox says of its network"
out=$(kubectl -n "$NS" get networkpolicies -o name 2>&1 || true)
expect "one NetworkPolicy per class in the namespace" "$out" "dockyard-class-default" "dockyard-class-e2e-net-listed"
out=$(kubectl -n "$NS" get sandbox dind -o jsonpath='{.status.network.policy}: {.status.network.summary}')
expect "status.network of a default-class sandbox" "$out" \
  "dockyard-class-default: egress: cluster DNS, the internet except private, link-local and loopback addresses; ingress: none"
out=$(kubectl -n "$NS" get sandbox listed -o jsonpath='{.status.network.policy}: {.status.network.summary}')
expect "status.network of a sandbox whose class lists one address" "$out" \
  "dockyard-class-e2e-net-listed: egress: $target_ip/32 ports 8080/TCP, $node_ip/32 ports 10250/TCP; ingress: none"
out=$(kubectl -n "$NS" get pod sbx-dind -o jsonpath='{.metadata.labels.dockyard\.dev/network-class}')
expect "the Pod carries its class's network label" "$out" "default"

step "the class that lists the target and the kubelet port reaches them, and nothing else"
settles "listed -> the other tenant's sandbox, allowed by both classes" "reached" probe "$NS" listed "$target_ip" 8080
expect "listed -> the kubelet, listed on purpose: open (the path exists; where it is closed, a policy closes it)" \
  "$(probe "$NS" listed "$node_ip" 10250)" "open"
expect "listed -> the API server: closed" "$(probe "$NS" listed "$node_ip" "$api_port")" "closed"
expect "listed -> the kubernetes Service: closed" "$(probe "$NS" listed "$service_ip" 443)" "closed"

step "a DinD sandbox of the default class: fenced from the node, the API server and the other tenant"
settles "dind -> the kubelet: closed" "closed" probe "$NS" dind "$node_ip" 10250
expect "dind -> the API server: closed" "$(probe "$NS" dind "$node_ip" "$api_port")" "closed"
expect "dind -> the kubernetes Service: closed" "$(probe "$NS" dind "$service_ip" 443)" "closed"
expect "dind -> the other tenant's sandbox: closed" "$(probe "$NS" dind "$target_ip" 8080)" "closed"
expect "dind -> the link-local metadata address: closed" "$(probe "$NS" dind 169.254.169.254 80)" "closed"
step "... and so are the containers its daemon starts; the workload reaches its own"
/usr/bin/docker save dockyard/busybox:1 | kubectl -n "$NS" exec -i sbx-dind -c workload -- docker load >/dev/null 2>&1
expect "a container of dind -> the kubelet: closed" "$(probe_container "$NS" dind "$node_ip" 10250)" "closed"
expect "a container of dind -> the other tenant's sandbox: closed" "$(probe_container "$NS" dind "$target_ip" 8080)" "closed"
in_sandbox "$NS" dind "docker run -d --name web dockyard/busybox:1 sh -c 'mkdir -p /www && echo reached > /www/x && exec httpd -f -p 8080 -h /www'" >/dev/null
web_ip=$(in_sandbox "$NS" dind "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web")
expect "dind -> its own container ($web_ip:8080)" "$(probe "$NS" dind "$web_ip" 8080)" "reached"

step "a brokered sandbox's Pod: fenced the same way"
expect "brokered -> the kubelet: closed" "$(probe "$NS" brokered "$node_ip" 10250)" "closed"
expect "brokered -> the API server: closed" "$(probe "$NS" brokered "$node_ip" "$api_port")" "closed"
expect "brokered -> the other tenant's sandbox: closed" "$(probe "$NS" brokered "$target_ip" 8080)" "closed"

step "... and its containers, each brokered sandbox on its own Docker network, reach no other sandbox's"
web='mkdir -p /www && echo reached > /www/x && exec httpd -f -p 8080 -h /www'
in_sandbox "$OTHER" neighbour "docker run -d --name web dockyard/busybox:1 sh -c '$web'" >/dev/null
neighbour_ip=$(in_sandbox "$OTHER" neighbour "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web")
info "the other tenant's brokered container serves on $neighbour_ip:8080"
expect "the control: the neighbour's own container reaches its web container" \
  "$(probe_container "$OTHER" neighbour "$neighbour_ip" 8080)" "reached"
expect "a container of brokered -> the neighbour's container: closed" \
  "$(probe_container "$NS" brokered "$neighbour_ip" 8080)" "closed"
step "... and fenced on the node by the agent's rules: its own Pod reaches them, they reach no node, Pod or metadata address"
# (Container names are the node daemon's: another sandbox's `web` exists.)
out=$(in_sandbox "$NS" brokered "docker run -d --name own-web dockyard/busybox:1 sh -c '$web'")
own_ip=$(in_sandbox "$NS" brokered "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' own-web")
[[ $own_ip =~ ^[0-9.]+$ ]] || info "docker run in brokered said: $out"
settles "brokered -> its own container ($own_ip:8080)" "reached" probe "$NS" brokered "$own_ip" 8080
expect "another tenant's Pod -> brokered's container: closed" "$(probe "$OTHER" neighbour "$own_ip" 8080)" "closed"
expect "a container of brokered -> the kubelet: closed" "$(probe_container "$NS" brokered "$node_ip" 10250)" "closed"
expect "a container of brokered -> the API server: closed" "$(probe_container "$NS" brokered "$node_ip" "$api_port")" "closed"
expect "a container of brokered -> the kubernetes Service: closed" "$(probe_container "$NS" brokered "$service_ip" 443)" "closed"
expect "a container of brokered -> the other tenant's sandbox Pod: closed" \
  "$(probe_container "$NS" brokered "$target_ip" 8080)" "closed"
expect "a container of brokered -> the link-local metadata address: closed" \
  "$(probe_container "$NS" brokered 169.254.169.254 80)" "closed"
out=$(nft list table inet dockyard 2>&1 || true)
expect "the agent's table on the node lets brokered's Pod (alone) into its bridges" "$out" "chain forward" "chain input" \
  "ip saddr $(kubectl -n "$NS" get sandbox brokered -o jsonpath='{.status.podIP}') oifname"
out=$(/usr/bin/docker network ls --filter "label=dockyard.dev/sandbox" --format '{{.Name}}' 2>&1 || true)
expect "each brokered sandbox has its own network on the node" "$out" \
  "dockyard-$(kubectl -n "$NS" get sandbox brokered -o jsonpath='{.metadata.uid}')" \
  "dockyard-$(kubectl -n "$OTHER" get sandbox neighbour -o jsonpath='{.metadata.uid}')"

step "the node's rules survive an agent restart and a dockerd restart, and go with the sandbox"
kubectl -n dockyard-system delete pod -l app.kubernetes.io/name=dockyard-agent --wait=true >/dev/null
kubectl -n dockyard-system rollout status ds/dockyard-agent --timeout=120s >/dev/null
expect "after an agent restart: a container of brokered -> the kubelet: closed" \
  "$(probe_container "$NS" brokered "$node_ip" 10250)" "closed"
settles "... and brokered still reaches its own container" "reached" probe "$NS" brokered "$own_ip" 8080
"$E2E_DIR/cluster" restart-docker >/dev/null
brokered_pod_ip=$(kubectl -n "$NS" get sandbox brokered -o jsonpath='{.status.podIP}')
expect "after a dockerd restart the table is still there" "$(nft list table inet dockyard 2>&1 || true)" \
  "ip saddr $brokered_pod_ip oifname"
settles "... and a container of brokered -> the kubelet: closed" "closed" \
  probe_container "$NS" brokered "$node_ip" 10250
kubectl -n "$NS" delete sandbox brokered --wait=true --timeout=120s >/dev/null
settles "the deleted sandbox's rules are gone from the node" "gone" \
  sh -c "nft list table inet dockyard | grep -q 'ip saddr $brokered_pod_ip ' && echo still || echo gone"

step "the policies hold"
out=$(kubectl -n "$NS" label pod sbx-dind dockyard.dev/network-class=e2e-net-listed --overwrite 2>&1 || true)
expect "a sandbox Pod cannot be relabelled out of its class's policy" "$out" "only Dockyard's controller" "network-class"
kubectl -n "$NS" delete networkpolicy dockyard-class-default >/dev/null
settles "a class's policy someone deleted is put back" "dockyard-class-default" \
  kubectl -n "$NS" get networkpolicy dockyard-class-default -o name
kubectl patch sandboxclass e2e-net-listed --type=merge \
  -p "{\"spec\":{\"network\":{\"egressTo\":[{\"cidr\":\"$target_ip/32\",\"ports\":[{\"port\":8081}]}]}}}" >/dev/null
settles "a class's change reaches its running sandbox: the target's 8080 is closed to it now" "closed" \
  probe "$NS" listed "$target_ip" 8080
out=$(kubectl -n "$NS" get sandbox listed -o jsonpath='{.status.network.summary}')
expect "... and its status says so" "$out" "ports 8081/TCP"

step "cleanup"
kubectl delete namespace "$NS" "$OTHER" --wait=true --timeout=120s >/dev/null && pass "namespaces deleted" ||
  fail "the namespaces were not deleted"
kubectl delete sandboxclass e2e-net-target e2e-net-listed >/dev/null || true
helm uninstall dockyard -n dockyard-system --wait >/dev/null && pass "helm uninstall" || fail "helm uninstall"
summary network
