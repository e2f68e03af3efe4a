package framework

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterStartTimeout bounds how long `drover up` may take to serve /readyz.
const clusterStartTimeout = 90 * time.Second

// Cluster is a local drover cluster started with `drover up` as a process.
type Cluster struct {
	Bins          *Binaries
	StateDir      string
	APIServerPort int
	EtcdPort      int
	EtcdPeerPort  int
	NATSPort      int
	// Drover is the `drover up` process; it supervises the daemons as its children and
	// stops them when it is stopped (and they die with it when it is killed).
	Drover *Process

	config *rest.Config
}

// ClusterOptions change how a cluster is started.
type ClusterOptions struct {
	// ExtraArgs are appended to `drover up`.
	ExtraArgs []string
	// Components is drover up's --components; empty means the apiserver
	// only, so API suites see no controller acting on their objects.
	Components []string
}

// StartCluster runs `drover up` with its state in stateDir and waits until the admin
// kubeconfig exists and the apiserver answers /readyz.
func StartCluster(bins *Binaries, stateDir string, opts ClusterOptions) (*Cluster, error) {
	c := &Cluster{Bins: bins, StateDir: stateDir}
	var err error
	for _, p := range []*int{&c.APIServerPort, &c.EtcdPort, &c.EtcdPeerPort, &c.NATSPort} {
		if *p, err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"up",
		"--state-dir", stateDir,
		"--bind-address", "127.0.0.1",
		"--apiserver-port", strconv.Itoa(c.APIServerPort),
		"--etcd-port", strconv.Itoa(c.EtcdPort),
		"--etcd-peer-port", strconv.Itoa(c.EtcdPeerPort),
		"--nats-port", strconv.Itoa(c.NATSPort),
		"--bin-dir", bins.Dir,
	}
	components := opts.Components
	if len(components) == 0 {
		components = []string{"apiserver"}
	}
	args = append(args, "--components", strings.Join(components, ","))
	args = append(args, opts.ExtraArgs...)
	c.Drover = NewProcess("drover", filepath.Join(stateDir, "drover-up.log"), bins.Path(BinDrover), args...)
	if err := c.Drover.Start(); err != nil {
		return nil, err
	}
	if err := c.waitReady(); err != nil {
		_ = c.Drover.Kill()
		return nil, fmt.Errorf("%w\n%s", err, c.AllLogs())
	}
	return c, nil
}

func (c *Cluster) waitReady() error {
	exited := c.Drover.Exited()
	return WaitFor(clusterStartTimeout, func() error {
		select {
		case <-exited:
			return Permanent(fmt.Errorf("framework: drover up exited: %v", c.Drover.Wait()))
		default:
		}
		if c.config == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
			if err != nil {
				return fmt.Errorf("kubeconfig not ready: %w", err)
			}
			c.config = cfg
		}
		return c.readyz(c.config)
	})
}

// readyz asks an apiserver's /readyz through config and expects "ok".
func (c *Cluster) readyz(config *rest.Config) error {
	cs, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w (%s)", err, body)
	}
	return nil
}

// Kubeconfig is the path of the admin kubeconfig `drover up` writes.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.StateDir, "kubeconfig") }

// LogDir is where `drover up` writes the daemons' logs.
func (c *Cluster) LogDir() string { return filepath.Join(c.StateDir, "logs") }

// EtcdURL is the client URL of the cluster's etcd, as `drover up` wrote it.
func (c *Cluster) EtcdURL() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.StateDir, "etcd.url"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// RestConfig returns a copy of the admin client config, with client-side rate limits
// raised so that tests creating many objects measure the server, not the client.
func (c *Cluster) RestConfig() *rest.Config {
	cfg := rest.CopyConfig(c.config)
	cfg.QPS = 500
	cfg.Burst = 1000
	return cfg
}

// ConfigFor returns the admin config pointed at another apiserver of this cluster (a
// replica started by the test) listening on 127.0.0.1:port.
func (c *Cluster) ConfigFor(port int) *rest.Config {
	cfg := c.RestConfig()
	cfg.Host = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return cfg
}

// Clientset returns a typed clientset for the admin user.
func (c *Cluster) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Dynamic returns a dynamic client for the admin user.
func (c *Cluster) Dynamic(t testing.TB) *dynamic.DynamicClient {
	t.Helper()
	dc, err := dynamic.NewForConfig(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// StartAPIServer starts one more drover-apiserver replica on the cluster's etcd, on a
// free loopback port, with the serving certificate `drover up` made. It is killed when
// the test ends. It waits until the replica answers /readyz.
func (c *Cluster) StartAPIServer(t testing.TB, extraArgs ...string) (*Process, int) {
	t.Helper()
	etcdURL, err := c.EtcdURL()
	if err != nil {
		t.Fatal(err)
	}
	port := MustFreePort(t)
	args := append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + filepath.Join(c.StateDir, "pki", "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(c.StateDir, "pki", "apiserver.key"),
		// As `drover up` starts its own replicas: clients authenticate with the cluster
		// CA's certificates, and the service ranges are the cluster's.
		"--client-ca-file=" + filepath.Join(c.StateDir, "pki", "ca.crt"),
		"--service-cluster-ip-range=10.96.0.0/12",
		"--service-node-port-range=30000-32767",
	}, extraArgs...)
	p := StartProcess(t, fmt.Sprintf("drover-apiserver-%d", port), c.Bins.Path(BinAPIServer), args...)
	c.WaitAPIServerReady(t, p, port)
	return p, port
}

// WaitAPIServerReady waits until the apiserver process p answers /readyz on port.
func (c *Cluster) WaitAPIServerReady(t testing.TB, p *Process, port int) {
	t.Helper()
	cfg := c.ConfigFor(port)
	exited := p.Exited()
	Eventually(t, clusterStartTimeout, func() error {
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.Name, p.Wait(), tail(p.Logs(), maxLogLines))
		default:
		}
		return c.readyz(cfg)
	})
}

// Stop stops `drover up` gracefully (SIGTERM to its process group).
func (c *Cluster) Stop() error { return c.Drover.Stop() }

// logFiles returns the cluster's log files: drover up's own and the daemons'.
func (c *Cluster) logFiles() []string {
	files := []string{c.Drover.LogPath}
	matches, _ := filepath.Glob(filepath.Join(c.LogDir(), "*"))
	sort.Strings(matches)
	return append(files, matches...)
}

// AllLogs returns the tail of every log of the cluster.
func (c *Cluster) AllLogs() string {
	var b strings.Builder
	for _, f := range c.logFiles() {
		fmt.Fprintf(&b, "--- %s:\n%s\n", f, tail(readFrom(f, 0), maxLogLines))
	}
	return b.String()
}

// Track makes a failing test print what the cluster's daemons logged while it ran.
func (c *Cluster) Track(t testing.TB) {
	t.Helper()
	offsets := map[string]int64{}
	for _, f := range c.logFiles() {
		offsets[f] = fileSize(f)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range c.logFiles() {
			text := readFrom(f, offsets[f])
			if f == c.Drover.LogPath {
				text = c.withoutMirroredLines(text)
			}
			t.Logf("--- %s (during this test):\n%s", f, tail(text, maxTestLogLines))
		}
	})
}

// withoutMirroredLines drops the lines `drover up` copies from a daemon's output
// ("[apiserver] ...") when that daemon has its own log file, printed separately.
func (c *Cluster) withoutMirroredLines(text string) string {
	var keep []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "[") {
			if name, _, ok := strings.Cut(line[1:], "] "); ok {
				if _, err := os.Stat(filepath.Join(c.LogDir(), name+".log")); err == nil {
					continue
				}
			}
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

var (
	sharedMu      sync.Mutex
	sharedCluster *Cluster
	sharedBins    *Binaries
)

// MainOptions say what a test package's TestMain needs.
type MainOptions struct {
	// Binaries to find or build besides drover and drover-apiserver.
	Binaries []string
	// Cluster starts one cluster shared by the package's tests.
	Cluster bool
	// ClusterOptions for the shared cluster.
	ClusterOptions ClusterOptions
}

// Main is a TestMain body: it finds or builds the binaries, starts the shared cluster,
// runs the tests and tears everything down. A failing run keeps the cluster's state dir
// (logs included) and says where it is.
func Main(m *testing.M, opts MainOptions) {
	os.Exit(runMain(m, opts))
}

func runMain(m *testing.M, opts MainOptions) int {
	// testing.M.Run parses flags too, but the bin dir is needed before it.
	if !flag.Parsed() {
		flag.Parse()
	}
	names := append([]string{BinDrover, BinAPIServer}, opts.Binaries...)
	bins, err := EnsureBinaries(names...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	sharedBins = bins
	if !opts.Cluster {
		return m.Run()
	}
	stateDir, err := os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	c, err := StartCluster(bins, stateDir, opts.ClusterOptions)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start cluster (state in %s): %v\n", stateDir, err)
		return 1
	}
	sharedMu.Lock()
	sharedCluster = c
	sharedMu.Unlock()

	code := m.Run()

	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop cluster:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: tests failed; cluster state and logs kept in %s\n", stateDir)
		return code
	}
	if err := os.RemoveAll(stateDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	return code
}

// SharedCluster returns the package's cluster started by Main and makes the test print
// the cluster's logs of its own span if it fails.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	sharedMu.Lock()
	c := sharedCluster
	sharedMu.Unlock()
	if c == nil {
		t.Fatal("framework: no shared cluster: TestMain must call framework.Main with Cluster: true")
	}
	c.Track(t)
	return c
}

// SharedBinaries returns the binaries found or built by Main.
func SharedBinaries(t testing.TB) *Binaries {
	t.Helper()
	if sharedBins == nil {
		t.Fatal("framework: TestMain must call framework.Main")
	}
	return sharedBins
}
