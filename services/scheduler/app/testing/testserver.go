// Package testing starts drover-scheduler in-process for tests, against a
// given apiserver, with its health listener on a free loopback port.
package testing

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"drover.dev/libs/component"
	"drover.dev/scheduler/app"
	"drover.dev/scheduler/app/config"
	"drover.dev/scheduler/app/options"
)

// TestServer is a running scheduler.
type TestServer struct {
	// URL is the health listener, e.g. http://127.0.0.1:40123.
	URL  string
	stop context.CancelFunc
	done chan error
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
	o.LogLevel = logLevel()
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
	ctx, cancel := context.WithCancel(context.Background())
	ts := &TestServer{stop: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { ts.done <- app.Run(ctx, cc, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		ts.URL = "http://" + a.String()
	case err := <-ts.done:
		cancel()
		tb.Fatalf("scheduler exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("scheduler did not start")
	}
	tb.Cleanup(ts.Stop)
	if err := ts.waitHealthy(30 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return ts
}

func (ts *TestServer) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(ts.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("scheduler not ready at %s", ts.URL)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// Stop stops the scheduler like SIGTERM does (it releases its lease) and
// waits for it.
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

// Done delivers Run's result once it returned.
func (ts *TestServer) Done() <-chan error { return ts.done }

func logLevel() string {
	if l := os.Getenv("DROVER_TEST_LOG_LEVEL"); l != "" {
		return l
	}
	return "error"
}
