// Package testing starts drover-dns in-process for tests, against a given
// apiserver, with its DNS and health listeners on free loopback ports.
package testing

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/dns/app"
	"drover.dev/dns/app/config"
	"drover.dev/dns/app/options"
	"drover.dev/libs/component"
	"drover.dev/libs/componenttest"
)

// TestServer is a running drover-dns.
type TestServer struct {
	*componenttest.Server
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL string
	// DNSAddr is the DNS address (UDP and TCP), e.g. 127.0.0.1:40124.
	DNSAddr string
}

// StartTestServer runs drover-dns against cfg until the test ends and
// waits until it is ready. customize may change the options; Upstreams
// must be set there or the machine's resolv.conf is used.
func StartTestServer(tb testing.TB, cfg *rest.Config, customize func(*options.Options)) *TestServer {
	tb.Helper()
	o := options.New()
	o.Listen = "127.0.0.1:0"
	o.HealthAddr = "127.0.0.1:0"
	o.KubeAPIQPS, o.KubeAPIBurst = -1, 0
	o.LogLevel = componenttest.LogLevel()
	if customize != nil {
		customize(o)
	}
	lg, err := component.NewLogger(o.LogLevel)
	if err != nil {
		tb.Fatal(err)
	}
	cc, err := (&config.Config{Options: o, RestConfig: cfg, Logger: lg}).Complete()
	if err != nil {
		tb.Fatalf("dns config: %v", err)
	}
	var dnsAddr string
	s := componenttest.Start(tb, "dns", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, cc, func(l app.Listening) {
			dnsAddr = l.DNS.String()
			ready(l.Health)
		})
	})
	ts := &TestServer{Server: s, URL: "http://" + s.Addr.String(), DNSAddr: dnsAddr}
	componenttest.WaitOK(tb, http.DefaultClient, ts.URL+"/readyz", 30*time.Second)
	return ts
}

// Metrics returns the /metrics text.
func (ts *TestServer) Metrics() (string, error) {
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
