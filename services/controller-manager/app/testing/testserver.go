// Package testing starts drover-controller-manager in-process against a
// given apiserver, for integration tests.
package testing

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"drover.dev/controller-manager/app"
	"drover.dev/controller-manager/app/config"
	"drover.dev/controller-manager/app/options"
	"drover.dev/libs/component"
	"drover.dev/libs/componenttest"
)

// TestServer is a running controller-manager.
type TestServer struct {
	*componenttest.Server
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL string
}

// StartTestServer runs the controller-manager against rc on a free loopback
// port, waits for /healthz and stops it when the test ends. customize may
// change options (controllers, periods) before the start.
func StartTestServer(tb testing.TB, rc *rest.Config, customize func(*options.Options)) *TestServer {
	tb.Helper()
	opts := options.New()
	opts.Port = 0
	opts.LeaderElect = false
	opts.LogLevel = componenttest.LogLevel()
	if customize != nil {
		customize(opts)
	}
	if errs := opts.Validate(); len(errs) > 0 {
		tb.Fatalf("controller-manager options: %v", errs)
	}
	lg, err := component.NewLogger(opts.LogLevel)
	if err != nil {
		tb.Fatal(err)
	}
	c := &config.Config{Options: opts, Logger: lg.With(zap.String("component", "controller-manager")), Rest: rest.CopyConfig(rc)}
	s := componenttest.Start(tb, "controller-manager", func(ctx context.Context, ready func(net.Addr)) error {
		c.OnListen = ready
		cc, err := c.Complete()
		if err != nil {
			return err
		}
		return app.Run(ctx, cc)
	})
	ts := &TestServer{Server: s, URL: "http://" + s.Addr.String()}
	componenttest.WaitOK(tb, http.DefaultClient, ts.URL+"/healthz", 30*time.Second)
	return ts
}
