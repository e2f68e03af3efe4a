// Package app wires drover-apiserver: etcd client, cache, API handlers and
// the HTTPS server, and runs them until the context ends.
package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http2"
	"k8s.io/apimachinery/pkg/version"

	"drover.dev/apiserver/app/options"
	"drover.dev/apiserver/internal/allocator"
	"drover.dev/apiserver/internal/busfeed"
	"drover.dev/apiserver/internal/buspublisher"
	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/filters"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/apiserver/internal/storage"
	"drover.dev/libs/bus"
	"drover.dev/libs/component"
)

// Version is what /version reports: the Kubernetes API level drover serves.
var Version = version.Info{
	Major:      "1",
	Minor:      "37",
	GitVersion: "v1.37.2-drover",
	Platform:   "linux/amd64",
	GoVersion:  "go1.26",
}

// NewCommand returns the drover-apiserver command.
func NewCommand() *cobra.Command {
	opts := options.New()
	cmd := &cobra.Command{
		Use:          "drover-apiserver",
		Short:        "drover's Kubernetes API server, backed by etcd",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := opts.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			return Run(cmd.Context(), opts, nil)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// Ready is told the address the server listens on once it serves.
type Ready func(addr net.Addr)

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, opts *options.Options, ready Ready) error {
	lg, err := newLogger(opts.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = lg.Sync() }()

	etcd, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.EtcdServers,
		DialTimeout: 10 * time.Second,
		Logger:      quieter(lg.Named("etcd-client")),
	})
	if err != nil {
		return fmt.Errorf("apiserver: etcd client: %w", err)
	}
	defer etcd.Close()

	reg := registry.Builtin()
	store := storage.New(etcd, opts.EtcdPrefix)
	store.LeaseReuse = time.Duration(opts.LeaseReuseDurationSeconds) * time.Second
	alloc, err := allocator.New(opts.EtcdPrefix+"/ranges", opts.ServiceClusterIPRange, opts.ServiceNodePortRange)
	if err != nil {
		return err
	}
	cacheOpts := cache.Options{HistorySize: opts.WatchCacheHistory, Skip: []string{"ranges"}}
	var js jetstream.JetStream
	if opts.NATSURL != "" {
		nc, err := connectNATS(opts.NATSURL, lg.Named("bus"))
		if err != nil {
			return err
		}
		defer nc.Close()
		if js, err = jetstream.New(nc); err != nil {
			return fmt.Errorf("apiserver: jetstream: %w", err)
		}
		if opts.WatchCacheSource() == "bus" {
			cacheOpts.Feed = &busfeed.Feed{JS: js, Key: store.Key}
		}
	}
	lg.Info("object cache", zap.String("source", opts.WatchCacheSource()))
	objCache := cache.New(store, endpoints.Parse, lg.Named("cache"), cacheOpts)
	cacheCtx, stopCache := context.WithCancel(context.Background())
	defer stopCache()
	go objCache.Run(cacheCtx)

	fields, err := newFieldManager(reg)
	if err != nil {
		return err
	}
	stopping := make(chan struct{})
	kubelets, err := kubeletClient(opts)
	if err != nil {
		return err
	}
	api := endpoints.New(endpoints.Config{
		Kubelets:        kubelets,
		FieldManager:    fields,
		Registry:        reg,
		Store:           store,
		Cache:           objCache,
		Allocator:       alloc,
		Hooks:           hooks(),
		Logger:          lg.Named("api"),
		Stopping:        stopping,
		MinWatchTimeout: opts.MinRequestTimeout,
		EventTTL:        opts.EventTTL,
	})
	if js != nil {
		defer startBusPublisher(cacheCtx, opts, etcd, js, reg, lg.Named("bus"))()
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := filters.NewMetrics(promReg)

	var (
		shuttingDown atomic.Bool
		etcdHealthy  atomic.Bool
		bootstrapped = make(chan struct{})
	)
	etcdHealthy.Store(true)
	go watchEtcdHealth(cacheCtx, store, &etcdHealthy, lg)

	mux := newMux(muxConfig{
		reg:       reg,
		api:       api,
		discovery: endpoints.NewDiscovery(reg),
		openapi:   openAPIHandler(reg),
		metrics:   promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}),
		profiling: opts.Profiling,
		readyChecks: component.Checks{
			"etcd": func() error {
				if !etcdHealthy.Load() {
					return errors.New("etcd is not reachable")
				}
				return nil
			},
			"cache": func() error {
				select {
				case <-objCache.Ready():
					return nil
				default:
					return errors.New("cache is loading")
				}
			},
			"poststarthook/bootstrap": func() error {
				select {
				case <-bootstrapped:
					return nil
				default:
					return errors.New("system namespaces and the kubernetes Service are not created yet")
				}
			},
			"shutdown": func() error {
				if shuttingDown.Load() {
					return errors.New("shutting down")
				}
				return nil
			},
		},
	})
	handler := filters.WithObservability(mux, metrics, lg.Named("http"))

	tlsConfig, err := servingTLS(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.SecurePort)))
	if err != nil {
		return fmt.Errorf("apiserver: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		// Informers multiplex their watches on one connection; kube-apiserver
		// allows 1000 streams per connection too.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 1000},
		ErrorLog: zap.NewStdLog(quieter(lg.Named("http-server"))),
	}
	// A connection carries many watch streams that are quiet most of the
	// time. The default round-robin scheduler walks every open stream of
	// the connection for each frame it writes; the random one keeps only
	// the streams with something to write (each stream's frames stay in
	// order).
	if err := http2.ConfigureServer(srv, &http2.Server{NewWriteScheduler: http2.NewRandomWriteScheduler}); err != nil {
		return fmt.Errorf("apiserver: http2: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	lg.Info("serving", zap.String("address", ln.Addr().String()))

	// Bootstrap once the cache is loaded: system namespaces and the kubernetes Service.
	go func() {
		select {
		case <-objCache.Ready():
		case <-ctx.Done():
			return
		}
		advertise := opts.AdvertiseAddress
		if advertise == "" {
			advertise = opts.BindAddress
			if ip := net.ParseIP(advertise); ip == nil || ip.IsUnspecified() {
				advertise = "127.0.0.1"
			}
		}
		port := ln.Addr().(*net.TCPAddr).Port
		bootstrap(ctx, api, alloc.FirstIP(), advertise, port, lg.Named("bootstrap"))
		close(bootstrapped)
		if ready != nil {
			ready(ln.Addr())
		}
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("apiserver: serve: %w", err)
	case <-ctx.Done():
	}
	lg.Info("shutting down")
	shuttingDown.Store(true)
	close(stopping) // ends open watches so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		lg.Warn("graceful shutdown incomplete", zap.Error(err))
	}
	return nil
}

func newLogger(level string) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	if err := cfg.Level.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// connectNATS connects to the bus, reconnecting forever.
func connectNATS(url string, lg *zap.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("drover-apiserver"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				lg.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { lg.Info("nats reconnected") }))
	if err != nil {
		return nil, fmt.Errorf("apiserver: nats: %w", err)
	}
	return nc, nil
}

// startBusPublisher campaigns for the publisher role; the returned func stops it.
func startBusPublisher(ctx context.Context, opts *options.Options, etcd *clientv3.Client, js jetstream.JetStream, reg *registry.Registry, lg *zap.Logger) func() {
	host, _ := os.Hostname()
	pub := buspublisher.New(buspublisher.Config{
		Etcd: etcd, Prefix: opts.EtcdPrefix, JS: js, Registry: reg, Parse: endpoints.Parse,
		Skip: []string{"ranges"}, Identity: fmt.Sprintf("%s_%d", host, os.Getpid()),
		Streams: bus.DefaultStreamOptions(), Logger: lg,
	})
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); pub.Run(pctx) }()
	return func() { cancel(); <-done }
}

// quieter raises a chatty dependency's logger to warnings (unless it is already quieter).
func quieter(lg *zap.Logger) *zap.Logger {
	if lg.Core().Enabled(zapcore.InfoLevel) {
		return lg.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	return lg
}

func watchEtcdHealth(ctx context.Context, store *storage.Store, healthy *atomic.Bool, lg *zap.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := store.CurrentRevision(cctx)
		cancel()
		if healthy.Swap(err == nil) != (err == nil) {
			lg.Warn("etcd health changed", zap.Bool("healthy", err == nil), zap.Error(err))
		}
	}
}

// servingTLS loads the serving certificate or makes a self-signed one.
func servingTLS(opts *options.Options) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if opts.TLSCertFile != "" {
		cert, err = tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSPrivateKeyFile)
	} else {
		cert, err = selfSigned(opts.BindAddress)
	}
	if err != nil {
		return nil, fmt.Errorf("apiserver: serving certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if opts.ClientCAFile != "" {
		pem, err := os.ReadFile(opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("apiserver: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apiserver: client CA %s holds no certificate", opts.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "drover-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// kubeletClient reaches kubelets' HTTPS APIs with the kubelet client
// certificate; kubelets' serving certificates are verified only against
// --kubelet-certificate-authority, as kube-apiserver does.
func kubeletClient(o *options.Options) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.KubeletCertificateAuthority != "" {
		pem, err := os.ReadFile(o.KubeletCertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("app: kubelet CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("app: kubelet CA %s holds no certificate", o.KubeletCertificateAuthority)
		}
		tc.RootCAs = pool
	} else {
		tc.InsecureSkipVerify = true
	}
	if o.KubeletClientCertificate != "" {
		cert, err := tls.LoadX509KeyPair(o.KubeletClientCertificate, o.KubeletClientKey)
		if err != nil {
			return nil, fmt.Errorf("app: kubelet client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:       tc,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     true,
	}}, nil
}
