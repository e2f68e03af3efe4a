// Package etcdtest starts a real embedded etcd for tests, on free loopback
// ports in a temporary directory.
package etcdtest

import (
	"net"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running embedded etcd.
type Server struct {
	Etcd *embed.Etcd
	// ClientURL is the URL clients connect to.
	ClientURL string
}

// Start starts etcd without fsync (tests throw their data away) and stops
// it when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

// StartDurable starts etcd that fsyncs like a production member, for
// benchmarks whose numbers must be comparable with a real deployment.
func StartDurable(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, true)
}

func start(tb testing.TB, fsync bool) *Server {
	cfg := embed.NewConfig()
	cfg.Dir = tb.TempDir()
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := freeURL(tb)
	peer := freeURL(tb)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.QuotaBackendBytes = 2 << 30
	cfg.UnsafeNoFsync = !fsync
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatalf("etcdtest: start: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		tb.Fatalf("etcdtest: etcd did not become ready")
	}
	tb.Cleanup(e.Close)
	return &Server{Etcd: e, ClientURL: client.String()}
}

func freeURL(tb testing.TB) url.URL {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("etcdtest: free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return url.URL{Scheme: "http", Host: addr}
}
