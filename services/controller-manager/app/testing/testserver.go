// Package testing starts drover-controller-manager in-process against a
// given apiserver, for integration tests.
package testing

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"drover.dev/controller-manager/app"
	"drover.dev/controller-manager/app/config"
	"drover.dev/controller-manager/app/options"
	"drover.dev/libs/component"
)

// TestServer is a running controller-manager.
type TestServer struct {
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL  string
	stop context.CancelFunc
	done chan error
}

// StartTestServer runs the controller-manager against rc on a free loopback
// port, waits for /healthz and stops it when the test ends. customize may
// change options (controllers, periods) before the start.
func StartTestServer(tb testing.TB, rc *rest.Config, customize func(*options.Options)) *TestServer {
	tb.Helper()
	opts := options.New()
	opts.Port = 0
	opts.LeaderElect = false
	opts.LogLevel = logLevel()
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
	listening := make(chan net.Addr, 1)
	c.OnListen = func(a net.Addr) { listening <- a }
	cc, err := c.Complete()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &TestServer{stop: cancel, done: make(chan error, 1)}
	go func() { ts.done <- app.Run(ctx, cc) }()
	select {
	case a := <-listening:
		ts.URL = "http://" + a.String()
	case err := <-ts.done:
		cancel()
		tb.Fatalf("controller-manager exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatal("controller-manager did not listen")
	}
	tb.Cleanup(ts.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ts.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("controller-manager /healthz never answered ok")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ts
}

// Stop ends the controller-manager and waits for it.
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

func logLevel() string {
	if l := os.Getenv("DROVER_TEST_LOG_LEVEL"); l != "" {
		return l
	}
	return "error"
}
