// Package component holds what every drover daemon besides the apiserver
// needs the same way: a zap logger, a client-go config from a kubeconfig,
// the health/metrics/pprof listener and leader election on a Lease.
package component

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// NewLogger returns a production zap logger at level (debug, info, warn, error).
func NewLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	if err := cfg.Level.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("component: log level %q: %w", level, err)
	}
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// RestConfig loads kubeconfig (or the in-cluster config when empty) and sets
// the client rate limits; qps < 0 disables client-side throttling.
func RestConfig(kubeconfig string, qps float32, burst int, userAgent string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("component: client config: %w", err)
	}
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = userAgent
	return cfg, nil
}

// Checks are named health checks; nil error means healthy.
type Checks map[string]func() error

// Server is a daemon's observability listener: /healthz, /livez, /readyz,
// /metrics and /debug/pprof/.
type Server struct {
	Addr     net.Addr
	Registry *prometheus.Registry
	srv      *http.Server
}

// Serve starts the listener on addr (":0" picks a port). live and ready are
// checked on every probe; the registry gets Go and process collectors.
func Serve(addr string, live, ready Checks, lg *zap.Logger) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", HealthHandler("healthz", live))
	mux.HandleFunc("/livez", HealthHandler("livez", live))
	mux.HandleFunc("/readyz", HealthHandler("readyz", ready))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("component: listen %s: %w", addr, err)
	}
	s := &Server{Addr: ln.Addr(), Registry: reg, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lg.Error("health server stopped", zap.Error(err))
		}
	}()
	return s, nil
}

// Close stops the listener.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// HealthHandler answers a health endpoint like kube components do: "ok", or
// the failing checks with 500; ?verbose lists every check.
func HealthHandler(name string, checks Checks) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, 0, len(checks))
		for n := range checks {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		failed := false
		for _, n := range names {
			if err := checks[n](); err != nil {
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: %v\n", n, err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", n)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failed {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, b.String()+name+" check failed\n")
			return
		}
		if _, verbose := r.URL.Query()["verbose"]; verbose {
			fmt.Fprint(w, b.String()+name+" check passed\n")
			return
		}
		fmt.Fprint(w, "ok")
	}
}

// LeaderElection says where the lock lives and how long leadership lasts.
type LeaderElection struct {
	Enabled       bool
	Namespace     string
	Name          string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// DefaultLeaderElection is Kubernetes' default timing with a lock in kube-system.
func DefaultLeaderElection(name string) LeaderElection {
	return LeaderElection{Enabled: true, Namespace: "kube-system", Name: name,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
}

// Identity is a unique holder identity: hostname plus pid.
func Identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s_%d", host, os.Getpid())
}

// RunLeading runs lead while this process holds the Lease (or at once when
// election is disabled) and returns when ctx ends or leadership is lost, so
// that two replicas never act at the same time.
func RunLeading(ctx context.Context, cs kubernetes.Interface, le LeaderElection, identity string, lg *zap.Logger, lead func(ctx context.Context)) error {
	if !le.Enabled {
		lead(ctx)
		return nil
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(le),
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	lost := errors.New("component: leadership lost")
	var result error
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				lg.Info("became leader", zap.String("lease", le.Namespace+"/"+le.Name), zap.String("identity", identity))
				lead(ctx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					result = lost
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("component: leader election: %w", err)
	}
	elector.Run(ctx)
	return result
}
