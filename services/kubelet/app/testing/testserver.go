// Package testing starts drover-kubelet in-process for tests, against a
// given apiserver, with its listeners on free loopback ports.
package testing

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/kubelet/app"
	"drover.dev/kubelet/app/config"
	"drover.dev/kubelet/app/options"
	"drover.dev/libs/component"
	"drover.dev/libs/componenttest"
)

// TestServer is a running kubelet.
type TestServer struct {
	*componenttest.Server
	// HealthURL is http://127.0.0.1:<port>; APIURL https://127.0.0.1:<port>.
	HealthURL, APIURL string
	Options           *options.Options
}

// StartTestServer runs a kubelet named name against cfg until the test
// ends; by default it is hollow, keeps its state in a temp dir and has the
// pod CIDR 10.244.0.0/24.
func StartTestServer(tb testing.TB, cfg *rest.Config, name string, customize func(*options.Options)) *TestServer {
	tb.Helper()
	o := options.New()
	o.NodeName = name
	o.NodeIP = "127.0.0.1"
	o.Runtime = options.RuntimeHollow
	o.RootDir = tb.TempDir()
	o.PodCIDR = "10.244.0.0/24"
	o.Address = "127.0.0.1"
	o.Port = 0
	o.HealthzPort = 0
	o.AnonymousAuth = true
	o.SyncFrequency = 200 * time.Millisecond
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
		tb.Fatalf("kubelet config: %v", err)
	}
	var addrs app.Addrs
	s := componenttest.Start(tb, "kubelet", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, cc, func(a app.Addrs) {
			addrs = a
			ready(a.Health)
		})
	})
	ts := &TestServer{Server: s, HealthURL: "http://" + addrs.Health.String(), APIURL: "https://" + addrs.API.String(), Options: o}
	componenttest.WaitOK(tb, http.DefaultClient, ts.HealthURL+"/readyz", 30*time.Second)
	return ts
}
