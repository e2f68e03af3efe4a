// Package etcd runs the embedded single-member etcd of a local drover cluster,
// listening on loopback only and sized for a small machine.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	// MemberName names the single member in the cluster's membership.
	MemberName = "drover"
	// Host is where the embedded etcd listens: plain HTTP, so loopback only.
	Host = "127.0.0.1"

	// DefaultQuotaBackendBytes caps the database at 256 MiB instead of etcd's
	// 2 GiB: with history compacted every few minutes a local cluster stays
	// far below it, and a runaway client hits the quota alarm long before it
	// fills a small disk.
	DefaultQuotaBackendBytes = 256 << 20
	// DefaultCompactionRetention keeps five minutes of history, enough for
	// watchers that reconnect, little enough to keep the database small.
	DefaultCompactionRetention = 5 * time.Minute
	// DefaultSnapshotCount is how many applied entries trigger a snapshot,
	// after which the raft log held in memory is cut to
	// snapshotCatchUpEntries. etcd's 10,000 (+5,000 kept) suit a busy
	// multi-member cluster; an idle local one writes a lease every second
	// or so, ~1 KB of heap an entry, so the log grew to ~15 MB over hours.
	// Since etcd 3.6 a snapshot holds only membership (data is in bbolt),
	// so taking one more often is cheap.
	DefaultSnapshotCount = 2000
	// snapshotCatchUpEntries is what the raft log keeps after a snapshot for
	// slow followers; the embedded etcd is a single member, so it has none
	// and only needs a little slack.
	snapshotCatchUpEntries = 500
	// DefaultStartTimeout bounds how long Start waits for etcd to serve.
	DefaultStartTimeout = time.Minute
)

// ErrNotReady is returned when etcd does not become ready within the start
// timeout.
var ErrNotReady = errors.New("etcd: server did not become ready")

// Config configures the embedded etcd.
type Config struct {
	// DataDir holds etcd's data; an existing one is resumed.
	DataDir string
	// ClientPort and PeerPort are the ports on 127.0.0.1 for clients and for
	// the (single-member) peer URL.
	ClientPort int
	PeerPort   int
	// QuotaBackendBytes defaults to DefaultQuotaBackendBytes.
	QuotaBackendBytes int64
	// SnapshotCount defaults to DefaultSnapshotCount.
	SnapshotCount uint64
	// CompactionRetention defaults to DefaultCompactionRetention.
	CompactionRetention time.Duration
	// StartTimeout defaults to DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives etcd's own logs, at whatever level it is configured
	// with; nil means no logs.
	Logger *zap.Logger
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	clientURL string
	closing   *atomic.Bool
}

// Start starts etcd and returns once it serves clients, or fails.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.SnapshotCount == 0 {
		cfg.SnapshotCount = DefaultSnapshotCount
	}
	if cfg.CompactionRetention == 0 {
		cfg.CompactionRetention = DefaultCompactionRetention
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd: create data dir: %w", err)
	}

	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort(Host, strconv.Itoa(cfg.ClientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort(Host, strconv.Itoa(cfg.PeerPort))}

	ec := embed.NewConfig()
	ec.Name = MemberName
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenPeerUrls = []url.URL{peerURL}
	ec.AdvertisePeerUrls = []url.URL{peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(MemberName)
	ec.InitialClusterToken = "drover"
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = cfg.CompactionRetention.String()
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	ec.SnapshotCount = cfg.SnapshotCount
	ec.SnapshotCatchUpEntries = snapshotCatchUpEntries
	ec.Logger = "zap"
	closing := &atomic.Bool{}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quietLogger(lg, closing))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcd: start: %w", err)
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: start: %w", err)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("%w within %s", ErrNotReady, cfg.StartTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd: start: %w", ctx.Err())
	}
	return &Server{etcd: e, clientURL: clientURL.String(), closing: closing}, nil
}

// ClientURL is the URL clients (the apiserver) connect to.
func (s *Server) ClientURL() string { return s.clientURL }

// Err reports errors that stop etcd from serving after it started.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd gracefully and releases its data directory.
func (s *Server) Close() {
	s.closing.Store(true)
	s.etcd.Close()
}
