// A validating admission webhook for the e2e tests: it refuses every request
// it is sent with the message given by -message, as a platform team's policy
// webhook refuses a Pod. It serves HTTPS on -listen with a certificate for
// 127.0.0.1 it makes at start, and writes that certificate (the caBundle of
// the ValidatingWebhookConfiguration) to -ca-out before it accepts requests.
//
// Standard library only: the e2e scripts build it with `go build` offline.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"
)

// The parts of admission.k8s.io/v1 AdmissionReview this webhook reads and writes.
type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID       string `json:"uid"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type response struct {
	UID     string  `json:"uid"`
	Allowed bool    `json:"allowed"`
	Result  *result `json:"status,omitempty"`
}

type result struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTPS on")
	caOut := flag.String("ca-out", "", "where to write the serving certificate (PEM)")
	message := flag.String("message", "refused by the e2e webhook", "the refusal's message")
	flag.Parse()

	cert, certPEM, err := selfSigned()
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	if err := os.WriteFile(*caOut, certPEM, 0o644); err != nil {
		log.Fatalf("write %s: %v", *caOut, err)
	}
	log.Printf("serving on %s", listener.Addr())

	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var in review
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		log.Printf("refusing %s/%s", in.Request.Namespace, in.Request.Name)
		out := review{
			APIVersion: in.APIVersion,
			Kind:       in.Kind,
			Response: &response{
				UID:    in.Request.UID,
				Result: &result{Code: http.StatusForbidden, Message: *message},
			},
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	server := &http.Server{
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(server.ServeTLS(listener, "", ""))
}

// selfSigned makes a one-day certificate for 127.0.0.1, its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "dockyard-e2e-webhook"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
