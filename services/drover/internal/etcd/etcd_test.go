package etcd

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"drover.dev/drover/internal/testutil"
)

func startEtcd(t *testing.T, dataDir string) *Server {
	t.Helper()
	ports := testutil.FreePorts(t, 2)
	s, err := Start(context.Background(), Config{
		DataDir:    dataDir,
		ClientPort: ports[0],
		PeerPort:   ports[1],
		Logger:     zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

func newClient(t *testing.T, s *Server) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.ClientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStartServesAndResumesData(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "etcd")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s := startEtcd(t, dataDir)
	c := newClient(t, s)
	put, err := c.Put(ctx, "/registry/namespaces/default", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := c.Get(ctx, "/registry/namespaces/default")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v1" {
		t.Fatalf("get = %v, %v; want v1", got, err)
	}
	c.Close()
	s.Close()

	// Same data dir, new ports: the data and the revision survive.
	s = startEtcd(t, dataDir)
	defer s.Close()
	c = newClient(t, s)
	defer c.Close()
	got, err = c.Get(ctx, "/registry/namespaces/default")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart get = %v, %v; want v1", got, err)
	}
	if got.Kvs[0].ModRevision != put.Header.Revision {
		t.Errorf("mod revision = %d, want %d", got.Kvs[0].ModRevision, put.Header.Revision)
	}
}

func TestStartAppliesSmallMachineSettings(t *testing.T) {
	s := startEtcd(t, filepath.Join(t.TempDir(), "etcd"))
	defer s.Close()
	cfg := s.etcd.Config()
	if cfg.AutoCompactionMode != "periodic" || cfg.AutoCompactionRetention != "5m0s" {
		t.Errorf("auto compaction = %s %s, want periodic 5m", cfg.AutoCompactionMode, cfg.AutoCompactionRetention)
	}
	if cfg.QuotaBackendBytes != DefaultQuotaBackendBytes {
		t.Errorf("quota = %d, want %d", cfg.QuotaBackendBytes, DefaultQuotaBackendBytes)
	}
	// What the running server uses, not only what was asked: etcd replaces
	// values it considers unset with its own defaults.
	if got := s.etcd.Server.Cfg.SnapshotCount; got != DefaultSnapshotCount {
		t.Errorf("snapshot count = %d, want %d", got, DefaultSnapshotCount)
	}
	if got := s.etcd.Server.Cfg.SnapshotCatchUpEntries; got != snapshotCatchUpEntries {
		t.Errorf("snapshot catch-up entries = %d, want %d", got, snapshotCatchUpEntries)
	}
	for _, u := range append(cfg.ListenClientUrls, cfg.ListenPeerUrls...) {
		if u.Hostname() != Host {
			t.Errorf("listens on %s, want loopback only", u.String())
		}
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	s := startEtcd(t, filepath.Join(t.TempDir(), "etcd"))
	defer s.Close()
	port, err := strconv.Atoi(s.etcd.Config().ListenClientUrls[0].Port())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Config{
		DataDir:    filepath.Join(t.TempDir(), "etcd"),
		ClientPort: port,
		PeerPort:   testutil.FreePort(t),
	})
	if err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

// TestQuietAtWarn checks that a clean start and stop say nothing at warn
// level, which is what `drover up` shows unless --verbose.
func TestQuietAtWarn(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	ports := testutil.FreePorts(t, 2)
	s, err := Start(context.Background(), Config{
		DataDir:    filepath.Join(t.TempDir(), "etcd"),
		ClientPort: ports[0],
		PeerPort:   ports[1],
		Logger:     zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, e := range logs.All() {
		t.Errorf("logged at %s: %s %v", e.Level, e.Message, e.ContextMap())
	}
}
