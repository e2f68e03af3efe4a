// Package testing starts drover-scheduler in-process for tests, against a
// given apiserver, with its health listener on a free loopback port.
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
	"drover.dev/scheduler/app"
	"drover.dev/scheduler/app/config"
	"drover.dev/scheduler/app/options"
)

// TestServer is a running scheduler.
type TestServer struct {
	*componenttest.Server
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL string
}

// StartTestServer runs the scheduler against cfg until the test ends.
// customize may change the options (e.g. ConfigFile, LeaderElect); by
// default leader election is off.
func StartTestServer(tb testing.TB, cfg *rest.Config, customize func(*options.Options)) *TestServer {
	tb.Helper()
	o := options.New()
	o.SecurePort = 0
	o.LeaderElect = false
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
		tb.Fatalf("scheduler config: %v", err)
	}
	s := componenttest.Start(tb, "scheduler", func(ctx context.Context, ready func(net.Addr)) error {
		return app.Run(ctx, cc, ready)
	})
	ts := &TestServer{Server: s, URL: "http://" + s.Addr.String()}
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
