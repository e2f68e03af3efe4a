// Package testing starts a real drover-apiserver in-process for tests,
// against a real embedded etcd, on a free loopback port.
package testing

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/apiserver/app"
	"drover.dev/apiserver/app/options"
	"drover.dev/libs/componenttest"
	"drover.dev/libs/etcdtest"
)

// TestServer is a running apiserver.
type TestServer struct {
	*componenttest.Server
	// Config reaches the server with client-go (TLS verification off: the
	// certificate is self-signed).
	Config *rest.Config
	// URL is the base URL, e.g. https://127.0.0.1:40123.
	URL string
	// EtcdURL is the etcd the server stores into.
	EtcdURL string
	// Client is an HTTP client for raw requests.
	Client *http.Client
}

// StartTestServer starts etcd (unless etcdURL is given) and the apiserver,
// waits until it is ready (system namespaces created) and stops both when
// the test ends. customize may change options before the start.
func StartTestServer(tb testing.TB, etcdURL string, customize func(*options.Options)) *TestServer {
	tb.Helper()
	if etcdURL == "" {
		etcdURL = etcdtest.Start(tb).ClientURL
	}
	opts := options.New()
	opts.EtcdServers = []string{etcdURL}
	opts.BindAddress = "127.0.0.1"
	opts.SecurePort = 0
	opts.LogLevel = componenttest.LogLevel()
	opts.ShutdownTimeout = 5 * time.Second
	if customize != nil {
		customize(opts)
	}
	if errs := opts.Validate(); len(errs) > 0 {
		tb.Fatalf("apiserver options: %v", errs)
	}
	s := componenttest.Start(tb, "apiserver", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, opts, ready)
	})
	ts := &TestServer{Server: s, EtcdURL: etcdURL, URL: "https://" + s.Addr.String()}
	ts.Config = &rest.Config{Host: ts.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1, Burst: -1}
	ts.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 30 * time.Second}
	return ts
}
