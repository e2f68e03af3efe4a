// Package testing starts a real drover-apiserver in-process for tests,
// against a real embedded etcd, on a free loopback port.
package testing

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/apiserver/app"
	"drover.dev/apiserver/app/options"
	"drover.dev/libs/etcdtest"
)

// TestServer is a running apiserver.
type TestServer struct {
	// Config reaches the server with client-go (TLS verification off: the
	// certificate is self-signed).
	Config *rest.Config
	// URL is the base URL, e.g. https://127.0.0.1:40123.
	URL string
	// EtcdURL is the etcd the server stores into.
	EtcdURL string
	// Client is an HTTP client for raw requests.
	Client *http.Client
	stop   context.CancelFunc
	done   chan error
}

// StartTestServer starts etcd (unless etcdURL is given) and the apiserver,
// waits until it is ready and stops both when the test ends. customize may
// change options before the start.
func StartTestServer(tb testing.TB, etcdURL string, customize func(*options.Options)) *TestServer {
	tb.Helper()
	if etcdURL == "" {
		etcdURL = etcdtest.Start(tb).ClientURL
	}
	opts := options.New()
	opts.EtcdServers = []string{etcdURL}
	opts.BindAddress = "127.0.0.1"
	opts.SecurePort = 0
	opts.LogLevel = logLevel()
	opts.ShutdownTimeout = 5 * time.Second
	if customize != nil {
		customize(opts)
	}
	if errs := opts.Validate(); len(errs) > 0 {
		tb.Fatalf("apiserver options: %v", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	ts := &TestServer{stop: cancel, done: make(chan error, 1), EtcdURL: etcdURL}
	go func() { ts.done <- app.Run(ctx, opts, func(a net.Addr) { ready <- a }) }()
	select {
	case addr := <-ready:
		ts.URL = "https://" + addr.String()
	case err := <-ts.done:
		cancel()
		tb.Fatalf("apiserver exited: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatalf("apiserver did not become ready")
	}
	tb.Cleanup(ts.Stop)
	ts.Config = &rest.Config{Host: ts.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1, Burst: -1}
	ts.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}
	return ts
}

// Stop shuts the server down and waits for it.
func (ts *TestServer) Stop() {
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case <-ts.done:
	case <-time.After(15 * time.Second):
	}
}

// logLevel is the in-process server's log level: error unless
// DROVER_TEST_LOG_LEVEL says otherwise (e.g. info to see every request).
func logLevel() string {
	if l := os.Getenv("DROVER_TEST_LOG_LEVEL"); l != "" {
		return l
	}
	return "error"
}
