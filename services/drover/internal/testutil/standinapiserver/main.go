// Command standinapiserver stands in for drover-apiserver in drover's tests
// while they must not depend on the real one: it takes exactly the flags
// `drover up` passes, serves /readyz, /healthz, /livez and /version over TLS,
// and is ready only while the etcd it was given answers.
//
// /whoami answers with the common name of the client certificate, so tests
// can check a kubeconfig's credentials.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("drover-apiserver", flag.ContinueOnError)
	etcdServers := fs.String("etcd-servers", "", "")
	bindAddress := fs.String("bind-address", "", "")
	securePort := fs.Int("secure-port", 0, "")
	certFile := fs.String("tls-cert-file", "", "")
	keyFile := fs.String("tls-private-key-file", "", "")
	clientCAFile := fs.String("client-ca-file", "", "")
	fs.String("service-cluster-ip-range", "", "")
	fs.String("service-node-port-range", "", "")
	fs.String("nats-url", "", "")
	fs.String("kubelet-client-certificate", "", "")
	fs.String("kubelet-client-key", "", "")
	fs.String("advertise-address", "", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	required := []struct{ name, value string }{
		{"etcd-servers", *etcdServers},
		{"bind-address", *bindAddress},
		{"tls-cert-file", *certFile},
		{"tls-private-key-file", *keyFile},
		{"client-ca-file", *clientCAFile},
	}
	for _, f := range required {
		if f.value == "" {
			log.Fatalf("--%s is required", f.name)
		}
	}

	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(*clientCAFile)
	if err != nil {
		log.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(caPEM)

	etcdHealth := strings.Split(*etcdServers, ",")[0] + "/health"
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(etcdHealth)
		if err != nil {
			http.Error(w, "etcd: "+err.Error(), http.StatusInternalServerError)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "etcd: "+resp.Status, http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"major": "1", "minor": "37", "gitVersion": "v1.37.0-standin"})
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "anonymous", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	})

	addr := net.JoinHostPort(*bindAddress, strconv.Itoa(*securePort))
	srv := &http.Server{
		Addr:    addr,
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientCAs:    clientCAs,
			ClientAuth:   tls.VerifyClientCertIfGiven,
		},
		ErrorLog: log.New(os.Stderr, "", 0),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "standin apiserver: shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Printf("standin apiserver: serving on https://%s, etcd %s\n", addr, *etcdServers)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
