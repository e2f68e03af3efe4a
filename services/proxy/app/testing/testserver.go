// Package testing starts drover-proxy in-process for tests, against a given
// apiserver, programming a given network namespace, with its health
// listener on a free loopback port.
package testing

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/libs/component"
	"drover.dev/libs/componenttest"
	"drover.dev/proxy/app"
	"drover.dev/proxy/app/config"
	"drover.dev/proxy/app/options"
)

// TestServer is a running proxy.
type TestServer struct {
	*componenttest.Server
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL string
}

// StartTestServer runs the proxy against cfg until the test ends; netnsPath
// is the namespace it programs (e.g. /proc/self/fd/N of a test namespace).
func StartTestServer(tb testing.TB, cfg *rest.Config, netnsPath string, customize func(*options.Options)) *TestServer {
	tb.Helper()
	o := options.New()
	o.HealthAddr = "127.0.0.1:0"
	o.NodeName = "node-a"
	o.NetNS = netnsPath
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
		tb.Fatalf("proxy config: %v", err)
	}
	s := componenttest.Start(tb, "proxy", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, cc, ready)
	})
	ts := &TestServer{Server: s, URL: "http://" + s.Addr.String()}
	componenttest.WaitOK(tb, http.DefaultClient, ts.URL+"/readyz", 30*time.Second)
	return ts
}

// Get returns the body of a path of the health listener.
func (ts *TestServer) Get(path string) (int, string, error) {
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
