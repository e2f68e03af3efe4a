package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"drover.dev/drover/app/options"
	"drover.dev/drover/internal/atomicfile"
	"drover.dev/drover/internal/etcd"
	"drover.dev/drover/internal/hostroutes"
	"drover.dev/drover/internal/kubeconfig"
	"drover.dev/drover/internal/natsserver"
	"drover.dev/drover/internal/nodenet"
	"drover.dev/drover/internal/pidfile"
	"drover.dev/drover/internal/pki"
	"drover.dev/drover/internal/statedir"
	"drover.dev/drover/internal/supervisor"
)

const (
	// Binaries' file names in --bin-dir.
	APIServerBinary         = "drover-apiserver"
	ControllerManagerBinary = "drover-controller-manager"
	SchedulerBinary         = "drover-scheduler"
	KubeletBinary           = "drover-kubelet"
	ProxyBinary             = "drover-proxy"
	DNSBinary               = "drover-dns"
	// ClusterCIDR is where nodes' pod CIDRs come from.
	ClusterCIDR = "10.244.0.0/16"
	// ServiceClusterIPRange and ServiceNodePortRange are the cluster's
	// networking defaults (see ARCHITECTURE.md).
	ServiceClusterIPRange = "10.96.0.0/12"
	ServiceNodePortRange  = "30000-32767"

	// daemonReadyTimeout bounds the wait for each daemon's readiness; a daemon
	// that crashes on start is retried with back-off until then.
	daemonReadyTimeout = 2 * time.Minute
	// readyzTimeout bounds one readiness request.
	readyzTimeout = 5 * time.Second
)

func newUpCommand(global *options.GlobalOptions) *cobra.Command {
	opts := options.NewUpOptions()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a local cluster until interrupted",
		Long: `Run a local cluster: embedded etcd (unless --etcd-servers is given) and the
drover daemons as child processes, restarted when they crash. Certificates, a
kubeconfig for the cluster admin, etcd's data and the daemons' logs are kept
in --state-dir, so a later run resumes the same cluster. Stop it with Ctrl-C
(or SIGTERM); delete it with drover down --purge.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := opts.Validate(); len(errs) > 0 {
				return validationError(errs)
			}
			lg := newLogger(zapcore.AddSync(cmd.ErrOrStderr()), global.Verbose)
			defer lg.Sync() //nolint:errcheck // fails harmlessly on a terminal
			cfg, err := completeUp(opts, global.Verbose)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context(), lg)
			defer stop()
			return runUp(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr(), lg)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// upConfig is what `drover up` runs, with every path resolved.
type upConfig struct {
	*options.UpOptions
	verbose bool
	dir     statedir.Dir
	binDir  string
	// clientHost is where clients reach the apiserver: the bind address,
	// or loopback when it binds every address.
	clientHost string
	// bindAddress is where the apiserver listens: --bind-address, or the
	// bridge's host address when nodes in their own namespaces could not
	// reach a loopback one.
	bindAddress string
	// natsURL is the event bus the daemons use, embedded or external.
	natsURL string
	// net is the nodes' network with --nodes > 1, nil with one node (it
	// runs in the host's namespace).
	net *nodenet.Network
	// droverExe is this program, which runs a node's kubelet in the node's
	// namespace (drover netns-exec).
	droverExe string
	// dnsAddr is where drover-dns listens, the DNS Service's endpoint.
	dnsAddr netip.AddrPort
}

func completeUp(o *options.UpOptions, verbose bool) (*upConfig, error) {
	dir, err := statedir.New(o.StateDir)
	if err != nil {
		return nil, err
	}
	binDir := o.BinDir
	if binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find drover's own directory for --bin-dir: %w", err)
		}
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		binDir = filepath.Dir(exe)
	}
	if binDir, err = filepath.Abs(binDir); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find drover's own executable: %w", err)
	}
	cfg := &upConfig{UpOptions: o, verbose: verbose, dir: dir, binDir: binDir, droverExe: exe, bindAddress: o.BindAddress}
	ip := net.ParseIP(o.BindAddress)
	cfg.clientHost = o.BindAddress
	if ip != nil && ip.IsUnspecified() {
		cfg.clientHost = "127.0.0.1"
		if ip.To4() == nil {
			cfg.clientHost = "::1"
		}
	}
	if o.Nodes > 1 {
		network, err := netip.ParsePrefix(o.NodeNetwork)
		if err != nil {
			return nil, fmt.Errorf("--node-network: %w", err)
		}
		if cfg.net, err = nodenet.New(nodenet.Config{Bridge: o.Bridge, Network: network, ClusterID: nodenet.ClusterID(dir.Root)}); err != nil {
			return nil, err
		}
		// Nodes reach the control plane at the bridge's host address, which
		// the host reaches as well.
		host := cfg.net.HostIP().String()
		switch {
		case ip.IsLoopback():
			cfg.bindAddress, cfg.clientHost = host, host
		case ip.IsUnspecified():
			cfg.clientHost = host
		}
	}
	return cfg, nil
}

// apiserverPort is the port of replica i.
func (c *upConfig) apiserverPort(i int) int { return c.APIServerPort + i }

// apiserverURL is the base URL of replica i as clients reach it.
func (c *upConfig) apiserverURL(i int) string {
	return "https://" + net.JoinHostPort(c.clientHost, strconv.Itoa(c.apiserverPort(i)))
}

// natsHost is where the embedded NATS listens: loopback, or the bridge's
// host address when nodes in their own namespaces use it.
func (c *upConfig) natsHost() string {
	if c.net != nil {
		return c.net.HostIP().String()
	}
	return "127.0.0.1"
}

// runUp runs the cluster until ctx is done. It returns nil when ctx ends the
// run, also while the cluster was still starting.
func runUp(ctx context.Context, cfg *upConfig, stdout, stderr io.Writer, lg *zap.Logger) (err error) {
	// A shutdown requested while starting is not a failure.
	defer func() {
		if err != nil && ctx.Err() != nil {
			lg.Debug("start interrupted", zap.Error(err))
			err = nil
		}
	}()

	if err := cfg.dir.Create(); err != nil {
		return err
	}
	pid, err := pidfile.Acquire(cfg.dir.PIDFile())
	if errors.Is(err, pidfile.ErrLocked) {
		return fmt.Errorf("drover up is already running for %s: %w; stop it, or pass another --state-dir", cfg.dir.Root, err)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := pid.Release(); err != nil {
			lg.Warn("failed to remove pid file", zap.Error(err))
		}
	}()

	if err := checkBinaries(cfg); err != nil {
		return err
	}
	// Deferred before the network's teardown, so it runs after it: the
	// record goes once nothing of this run's nodes is left. (A record of
	// an earlier run that died stays until one runs to its end: this run
	// adopts that run's containers and namespaces.) After a failed clean-up
	// it stays, for drover down --purge to try again.
	recorded, nodesClean := false, true
	defer func() {
		if !recorded || !nodesClean {
			return
		}
		if err := os.Remove(cfg.dir.NodesRecordFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
			lg.Warn("failed to remove the nodes record", zap.Error(err))
		}
	}()
	status := newStartStatus(stdout)

	// 0. The nodes' network comes first: the apiserver and NATS listen on
	// the bridge. Deferred first, so it goes last.
	if cfg.net != nil {
		if err := cfg.net.EnsureBridge(); err != nil {
			return err
		}
		defer func() {
			if err := cfg.net.TeardownBridge(); err != nil {
				lg.Warn("failed to remove the node bridge", zap.Error(err))
			} else {
				lg.Info("removed the node bridge", zap.String("bridge", cfg.net.Bridge()))
			}
		}()
		if err := cfg.net.EnsureNAT(netip.MustParsePrefix(ClusterCIDR)); err != nil {
			return err
		}
		defer func() {
			if err := cfg.net.TeardownNAT(); err != nil {
				lg.Warn("failed to remove the nodes' NAT table", zap.Error(err))
			}
		}()
		status.done("network", fmt.Sprintf("bridge %s, host %s", cfg.net.Bridge(), cfg.net.HostIP()))
	}
	for i := range cfg.APIServerReplicas {
		if err := checkPortFree(cfg.bindAddress, cfg.apiserverPort(i)); err != nil {
			return fmt.Errorf("apiserver port: %w", err)
		}
	}

	// 1. etcd.
	etcdServers := cfg.EtcdServers
	var etcdErr <-chan error
	if cfg.EmbeddedEtcd() {
		etcdLevel := zapcore.WarnLevel
		if cfg.verbose {
			etcdLevel = zapcore.InfoLevel
		}
		lg.Info("starting embedded etcd", zap.String("data-dir", cfg.dir.EtcdDataDir()), zap.Int("port", cfg.EtcdPort))
		srv, err := etcd.Start(ctx, etcd.Config{
			DataDir:    cfg.dir.EtcdDataDir(),
			ClientPort: cfg.EtcdPort,
			PeerPort:   cfg.EtcdPeerPort,
			Logger:     lg.Named("etcd").WithOptions(zap.IncreaseLevel(etcdLevel)),
		})
		if err != nil {
			return err
		}
		defer func() {
			lg.Info("stopping embedded etcd")
			srv.Close()
		}()
		etcdServers = []string{srv.ClientURL()}
		etcdErr = srv.Err()
	}
	if err := atomicfile.WriteFile(cfg.dir.EtcdURLFile(), []byte(strings.Join(etcdServers, ",")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", cfg.dir.EtcdURLFile(), err)
	}
	lg.Info("etcd is ready", zap.Strings("servers", etcdServers))
	status.done("etcd", "")

	// 2. The event bus.
	natsURL := cfg.NATSURL
	if natsURL == "" {
		lg.Info("starting embedded NATS", zap.String("store-dir", cfg.dir.NATSStoreDir()), zap.Int("port", cfg.NATSPort))
		ns, err := natsserver.Start(natsserver.Config{StoreDir: cfg.dir.NATSStoreDir(), Host: cfg.natsHost(), Port: cfg.NATSPort, Logger: lg.Named("nats")})
		if err != nil {
			return err
		}
		// Deferred after etcd's close, so it runs before it: daemons, then NATS, then etcd.
		defer func() {
			lg.Info("stopping embedded NATS")
			ns.Close()
		}()
		natsURL = ns.ClientURL()
	}
	if err := atomicfile.WriteFile(cfg.dir.NATSURLFile(), []byte(natsURL+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", cfg.dir.NATSURLFile(), err)
	}
	cfg.natsURL = natsURL
	status.done("nats", "")

	// 3. Certificates.
	certs, err := pki.Ensure(pki.Config{
		Dir:          cfg.dir.PKIDir(),
		ServingHosts: []string{cfg.bindAddress, cfg.clientHost},
		Logger:       lg,
	})
	if err != nil {
		return err
	}

	// 4. The admin kubeconfig, which the other daemons use too (until the
	// security issue gives each its own identity).
	if err := kubeconfig.Write(cfg.dir.KubeconfigFile(), kubeconfig.Options{
		Server:         cfg.apiserverURL(0),
		CAFile:         certs.CACert,
		ClientCertFile: certs.AdminCert,
		ClientKeyFile:  certs.AdminKey,
	}); err != nil {
		return err
	}

	// 5. Daemons: the control plane, then the nodes.
	readyClient, err := newReadyClient(certs)
	if err != nil {
		return err
	}
	// Two supervisors, so that Ctrl-C stops the nodes and cleans them up
	// while the control plane still answers them (a kubelet's clean-up
	// asks for its pod CIDR), then stops the control plane.
	supCfg := supervisor.Config{
		LogDir: cfg.dir.LogsDir(),
		Stdout: stdout,
		Stderr: stderr,
		Logger: lg,
	}
	controlSup, nodeSup := supervisor.New(supCfg), supervisor.New(supCfg)
	controlPlane, err := clusterDaemons(cfg, certs, etcdServers, readyClient)
	if err != nil {
		return err
	}
	nodes, err := localNodes(cfg, certs)
	if err != nil {
		return err
	}
	if err := writeNodesRecord(cfg, nodes); err != nil {
		return err
	}
	recorded = true
	defer controlSup.Stop()
	// Each node's containers, pod networks, proxy rules and namespace go
	// (the pods stay in etcd and are recreated by the next drover up).
	defer func() { nodesClean = cleanupNodes(cfg, nodes, lg) }()
	defer nodeSup.Stop()
	start := func(sup *supervisor.Supervisor, d supervisor.Daemon) error {
		if err := sup.Start(d); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, daemonReadyTimeout)
		err := sup.WaitReady(rctx, d.Name)
		cancel()
		if err != nil {
			return fmt.Errorf("%w; its log is %s", err, filepath.Join(cfg.dir.LogsDir(), d.Name+".log"))
		}
		lg.Debug("daemon is ready", zap.String("daemon", d.Name))
		status.done(d.Name, "")
		return nil
	}
	for _, d := range controlPlane {
		if err := start(controlSup, d); err != nil {
			return err
		}
	}
	client, err := adminClient(cfg)
	if err != nil {
		return err
	}
	if cfg.Runs(options.ComponentDNS) {
		if err := publishDNSService(ctx, client, cfg.dnsAddr); err != nil {
			return err
		}
		status.done("dns service", fmt.Sprintf("%s -> %s", ClusterDNSIP, cfg.dnsAddr))
	}
	if cfg.net != nil {
		go hostroutes.Run(ctx, client, cfg.net, lg.Named("host-routes"))
	}
	for _, n := range nodes {
		if n.inNetNS() {
			if err := cfg.net.EnsureNode(n.place); err != nil {
				return err
			}
		}
		for _, d := range []supervisor.Daemon{n.kubelet, n.proxy} {
			if d.Name == "" {
				continue
			}
			if err := start(nodeSup, d); err != nil {
				return err
			}
		}
	}
	if cfg.Runs(options.ComponentKubelet) {
		if err := waitNodesReady(ctx, client, nodes, status); err != nil {
			return err
		}
		if err := writeNodesRecord(cfg, nodes); err != nil {
			return err
		}
	}

	first := "kubectl get namespaces"
	if cfg.Runs(options.ComponentKubelet) {
		first = "kubectl get nodes -o wide"
	}
	fmt.Fprintf(stdout, "drover is up: export KUBECONFIG=%s; %s\n", cfg.dir.KubeconfigFile(), first)

	// 6. Run until told to stop; the deferred calls stop the daemons, clean
	// the nodes up, then stop NATS and etcd and remove the bridge.
	select {
	case <-ctx.Done():
		return nil
	case err := <-etcdErr:
		return fmt.Errorf("embedded etcd failed: %w", err)
	}
}

// clusterDaemons lists the daemons of a local cluster in start order; each
// starts once the ones before it are ready. Another daemon is one more
// append here.
func clusterDaemons(cfg *upConfig, certs *pki.Bundle, etcdServers []string, ready *http.Client) ([]supervisor.Daemon, error) {
	var ds []supervisor.Daemon
	for i := range cfg.APIServerReplicas {
		ds = append(ds, apiserverDaemon(cfg, i, certs, etcdServers, ready))
	}
	plain := &http.Client{Timeout: readyzTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if cfg.Runs(options.ComponentControllerManager) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ds = append(ds, supervisor.Daemon{
			Name:   "controller-manager",
			Binary: filepath.Join(cfg.binDir, ControllerManagerBinary),
			Args: append([]string{
				"--kubeconfig=" + cfg.dir.KubeconfigFile(),
				"--port=" + strconv.Itoa(port),
				"--nats-url=" + cfg.natsURL,
				"--cluster-cidr=" + ClusterCIDR,
				"--allocate-node-cidrs=true",
			}, cfg.ExtraArgs(options.ComponentControllerManager)...),
			Ready: supervisor.HTTPGetCheck(plain, "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz"),
		})
	}
	if cfg.Runs(options.ComponentScheduler) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ds = append(ds, supervisor.Daemon{
			Name:   "scheduler",
			Binary: filepath.Join(cfg.binDir, SchedulerBinary),
			Args: append([]string{
				"--kubeconfig=" + cfg.dir.KubeconfigFile(),
				"--secure-port=" + strconv.Itoa(port),
				"--nats-url=" + cfg.natsURL,
			}, cfg.ExtraArgs(options.ComponentScheduler)...),
			Ready: supervisor.HTTPGetCheck(plain, "http://127.0.0.1:"+strconv.Itoa(port)+"/readyz"),
		})
	}
	if cfg.Runs(options.ComponentDNS) {
		health, err := freePort()
		if err != nil {
			return nil, err
		}
		addr, err := dnsListenAddr(cfg)
		if err != nil {
			return nil, err
		}
		cfg.dnsAddr = addr
		ds = append(ds, supervisor.Daemon{
			Name:   "dns",
			Binary: filepath.Join(cfg.binDir, DNSBinary),
			Args: append([]string{
				"--kubeconfig=" + cfg.dir.KubeconfigFile(),
				"--listen=" + addr.String(),
				"--health-addr=127.0.0.1:" + strconv.Itoa(health),
				"--nats-url=" + cfg.natsURL,
			}, cfg.ExtraArgs(options.ComponentDNS)...),
			Ready: supervisor.HTTPGetCheck(plain, "http://127.0.0.1:"+strconv.Itoa(health)+"/readyz"),
		})
	}
	return ds, nil
}

// freePort asks the kernel for a free loopback port for a daemon's health
// listener; the daemon keeps it across restarts.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// preferredPort is port when it is free on every address, else a free one.
func preferredPort(port int) (int, error) {
	if ln, err := net.Listen("tcp", ":"+strconv.Itoa(port)); err == nil {
		ln.Close()
		return port, nil
	}
	return freePort()
}

func apiserverDaemon(cfg *upConfig, replica int, certs *pki.Bundle, etcdServers []string, ready *http.Client) supervisor.Daemon {
	name := "apiserver"
	if replica > 0 {
		name = "apiserver-" + strconv.Itoa(replica)
	}
	return supervisor.Daemon{
		Name:   name,
		Binary: filepath.Join(cfg.binDir, APIServerBinary),
		Args: append([]string{
			"--etcd-servers=" + strings.Join(etcdServers, ","),
			"--bind-address=" + cfg.bindAddress,
			"--secure-port=" + strconv.Itoa(cfg.apiserverPort(replica)),
			"--tls-cert-file=" + certs.APIServerCert,
			"--tls-private-key-file=" + certs.APIServerKey,
			"--service-cluster-ip-range=" + ServiceClusterIPRange,
			"--service-node-port-range=" + ServiceNodePortRange,
			"--client-ca-file=" + certs.CACert,
			"--nats-url=" + cfg.natsURL,
			// pods/log: the kubelets trust the cluster CA, which signed the admin certificate.
			"--kubelet-client-certificate=" + certs.AdminCert,
			"--kubelet-client-key=" + certs.AdminKey,
			// The kubernetes Service's endpoint: where pods reach the apiserver.
			"--advertise-address=" + cfg.clientHost,
		}, cfg.ExtraArgs(options.ComponentAPIServer)...),
		Ready: supervisor.HTTPGetCheck(ready, cfg.apiserverURL(replica)+"/readyz"),
	}
}

// newReadyClient returns the client readiness checks use: it trusts the
// cluster CA and keeps no connections, since it is used only while starting.
func newReadyClient(certs *pki.Bundle) (*http.Client, error) {
	pool, err := certs.CAPool()
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: readyzTimeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// checkPortFree tells early, and in words, that a port is taken, instead of
// letting the daemon crash-loop on it until the ready timeout.
func checkPortFree(host string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%d on %s is not free (another drover up? use --apiserver-port): %w", port, host, err)
	}
	return ln.Close()
}
