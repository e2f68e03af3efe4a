// Package componenttest runs a drover daemon in-process for tests: it starts
// the daemon's Run in a goroutine, waits until it serves, and stops it when
// the test ends.
package componenttest

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// Server is a daemon running in the test process.
type Server struct {
	// Addr is where the daemon serves (its API or health listener).
	Addr net.Addr
	stop context.CancelFunc
	done chan error
}

// Start runs run until the test ends. run must call ready with the address
// it serves on once it does; Start fails the test if run returns first or
// does not get there within a minute.
func Start(tb testing.TB, name string, run func(ctx context.Context, ready func(net.Addr)) error) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{stop: cancel, done: make(chan error, 1)}
	serving := make(chan net.Addr, 1)
	go func() { s.done <- run(ctx, func(a net.Addr) { serving <- a }) }()
	select {
	case s.Addr = <-serving:
	case err := <-s.done:
		cancel()
		tb.Fatalf("%s exited: %v", name, err)
	case <-time.After(time.Minute):
		cancel()
		tb.Fatalf("%s did not start serving", name)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Stop ends the daemon and waits for it.
func (s *Server) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
	}
}

// Done delivers the daemon's result once it returned by itself.
func (s *Server) Done() <-chan error { return s.done }

// WaitOK polls url until it answers 200 or the timeout passes.
func WaitOK(tb testing.TB, client *http.Client, url string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s never answered 200", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LogLevel is the log level of daemons in tests: error, unless
// DROVER_TEST_LOG_LEVEL says otherwise (e.g. info to see every request).
func LogLevel() string {
	if l := os.Getenv("DROVER_TEST_LOG_LEVEL"); l != "" {
		return l
	}
	return "error"
}
