package component

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"errors"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes/fake"
)

func TestServeHealth(t *testing.T) {
	ready := atomic.Bool{}
	s, err := Serve("127.0.0.1:0", Checks{"ping": func() error { return nil }},
		Checks{"synced": func() error {
			if !ready.Load() {
				return errors.New("not synced")
			}
			return nil
		}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path string
		ready      bool
		code       int
		body       string
	}{
		{"live", "/healthz", false, 200, "ok"},
		{"not ready", "/readyz", false, 500, "[-]synced failed: not synced\nreadyz check failed\n"},
		{"ready", "/readyz", true, 200, "ok"},
		{"verbose", "/readyz?verbose", true, 200, "[+]synced ok\nreadyz check passed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			code, body := get(tt.path)
			if code != tt.code || body != tt.body {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}
	if code, body := get("/metrics"); code != 200 || len(body) == 0 {
		t.Fatalf("metrics: %d", code)
	}
}

// Two contenders on one Lease: only one leads at a time, and the other
// takes over when the first stops.
func TestRunLeadingExclusive(t *testing.T) {
	cs := fake.NewClientset()
	le := DefaultLeaderElection("test")
	le.LeaseDuration, le.RenewDeadline, le.RetryPeriod = 2*time.Second, time.Second, 100*time.Millisecond
	var leading atomic.Int32
	var maxLeading atomic.Int32
	var started sync.WaitGroup
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	becameLeader := make(chan string, 2)
	run := func(ctx context.Context, id string) {
		defer started.Done()
		_ = RunLeading(ctx, cs, le, id, zap.NewNop(), func(ctx context.Context) {
			n := leading.Add(1)
			if n > maxLeading.Load() {
				maxLeading.Store(n)
			}
			becameLeader <- id
			<-ctx.Done()
			leading.Add(-1)
		})
	}
	started.Add(2)
	go run(ctxA, "a")
	first := <-becameLeader
	go run(ctxB, "b")
	if first == "a" {
		cancelA()
	} else {
		cancelB()
	}
	select {
	case second := <-becameLeader:
		if second == first {
			t.Fatalf("%s led twice", first)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no fail-over")
	}
	if maxLeading.Load() > 1 {
		t.Fatalf("%d leaders at once", maxLeading.Load())
	}
	cancelA()
	cancelB()
	started.Wait()
}
