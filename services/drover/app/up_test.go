package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"drover.dev/drover/internal/etcd"
	"drover.dev/drover/internal/statedir"
	"drover.dev/drover/internal/testutil"
)

const upTimeout = 60 * time.Second

// consecutiveFreePorts returns n free ports in a row, for apiserver replicas.
func consecutiveFreePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		first := testutil.FreePort(t)
		ok := true
		for i := 1; i < n && ok; i++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first+i)))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// upRun is one `drover up` run inside the test process.
type upRun struct {
	stdout, stderr *testutil.Buffer
	cancel         context.CancelFunc
	errc           chan error
}

func startUp(t *testing.T, args ...string) *upRun {
	t.Helper()
	cmd := NewCommand()
	cmd.SetArgs(append([]string{"up"}, args...))
	r := &upRun{stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, errc: make(chan error, 1)}
	cmd.SetOut(r.stdout)
	cmd.SetErr(r.stderr)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.errc <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.errc:
		case <-time.After(upTimeout):
			t.Errorf("drover up did not stop")
		}
		if t.Failed() {
			t.Logf("drover up stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
	return r
}

// waitUp waits for the line drover up prints when the cluster is ready.
func (r *upRun) waitUp(t *testing.T, stateDir string) {
	t.Helper()
	want := "drover is up: export KUBECONFIG=" + filepath.Join(stateDir, "kubeconfig") + "; kubectl get namespaces\n"
	deadline := time.After(upTimeout)
	for !strings.Contains(r.stdout.String(), want) {
		select {
		case err := <-r.errc:
			r.errc <- err
			t.Fatalf("drover up ended before it was up: %v\nstderr:\n%s", err, r.stderr)
		case <-deadline:
			t.Fatalf("drover up did not print %q", want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop interrupts drover up as a signal would and returns its error.
func (r *upRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.errc:
		r.errc <- err
		return err
	case <-time.After(upTimeout):
		t.Fatal("drover up did not stop")
		return nil
	}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestUpRunsClusterAndResumesIt(t *testing.T) {
	binDir := t.TempDir()
	testutil.BuildStandInAPIServer(t, binDir)
	apiPort := consecutiveFreePorts(t, 2)
	etcdPorts := testutil.FreePorts(t, 3) // etcd client, etcd peer, NATS
	state := filepath.Join(t.TempDir(), "state")
	args := []string{
		"--state-dir", state,
		"--bin-dir", binDir,
		"--components", "apiserver",
		"--apiserver-port", strconv.Itoa(apiPort),
		"--apiserver-replicas", "2",
		"--etcd-port", strconv.Itoa(etcdPorts[0]),
		"--etcd-peer-port", strconv.Itoa(etcdPorts[1]),
		"--nats-port", strconv.Itoa(etcdPorts[2]),
	}
	dir := statedir.Dir{Root: state}

	run := startUp(t, args...)
	run.waitUp(t, state)

	// Both replicas run, their output prefixed on drover's and kept in logs.
	for i, name := range []string{"apiserver", "apiserver-1"} {
		line := fmt.Sprintf("standin apiserver: serving on https://127.0.0.1:%d", apiPort+i)
		if !strings.Contains(run.stdout.String(), "["+name+"] "+line) {
			t.Errorf("drover's output lacks %q", "["+name+"] "+line)
		}
		logged := readFile(t, filepath.Join(dir.LogsDir(), name+".log"))
		if !strings.Contains(logged, line) || strings.Contains(logged, "["+name+"]") {
			t.Errorf("%s.log = %q, want the daemon's lines without prefix", name, logged)
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPorts[0])
	if got := readFile(t, dir.EtcdURLFile()); got != etcdURL+"\n" {
		t.Errorf("etcd.url = %q, want %q", got, etcdURL)
	}
	if got := readFile(t, dir.PIDFile()); got != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("drover.pid = %q, want our pid", got)
	}
	for _, f := range []string{"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key"} {
		if _, err := os.Stat(filepath.Join(dir.PKIDir(), f)); err != nil {
			t.Errorf("pki: %v", err)
		}
	}
	caBefore := readFile(t, filepath.Join(dir.PKIDir(), "ca.crt"))

	// The kubeconfig reaches the apiserver as drover-admin.
	fi, err := os.Stat(dir.KubeconfigFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", fi.Mode().Perm())
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", dir.KubeconfigFile())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://127.0.0.1:%d", apiPort); restCfg.Host != want {
		t.Errorf("kubeconfig server = %q, want %q", restCfg.Host, want)
	}
	client, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, client, restCfg.Host+"/whoami"); code != http.StatusOK || body != "drover-admin" {
		t.Errorf("whoami = %d %q, want drover-admin", code, body)
	}

	// etcd is real and its URL is the one written down.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	etcdClient, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdClient.Put(ctx, "/registry/test/kept", "yes"); err != nil {
		t.Fatal(err)
	}
	etcdClient.Close()

	// A second drover up for the same state directory is refused.
	second := NewCommand()
	second.SetArgs(append([]string{"up"}, args...))
	second.SetOut(io.Discard)
	second.SetErr(io.Discard)
	if err := second.Execute(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second drover up = %v, want already running", err)
	}

	if err := run.stop(t); err != nil {
		t.Fatalf("drover up returned %v after being interrupted, want nil", err)
	}
	if !strings.Contains(run.stderr.String(), "[apiserver] standin apiserver: shutting down") {
		t.Errorf("apiserver was not stopped with SIGTERM")
	}
	for i := range 2 {
		if conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort+i))); err == nil {
			conn.Close()
			t.Errorf("apiserver replica %d still listens after drover up stopped", i)
		}
	}
	if _, err := os.Stat(dir.PIDFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("drover.pid left behind: %v", err)
	}

	// A second run resumes: same CA, same etcd data.
	run = startUp(t, args...)
	run.waitUp(t, state)
	if got := readFile(t, filepath.Join(dir.PKIDir(), "ca.crt")); got != caBefore {
		t.Errorf("CA changed on the second run")
	}
	etcdClient, err = clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcdClient.Close()
	got, err := etcdClient.Get(ctx, "/registry/test/kept")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "yes" {
		t.Errorf("etcd data after restart = %v, %v", got, err)
	}
	if err := run.stop(t); err != nil {
		t.Fatalf("second drover up returned %v", err)
	}
}

func TestUpUsesExternalEtcd(t *testing.T) {
	binDir := t.TempDir()
	testutil.BuildStandInAPIServer(t, binDir)
	etcdPorts := testutil.FreePorts(t, 3) // etcd client, etcd peer, NATS
	external, err := etcd.Start(context.Background(), etcd.Config{
		DataDir:    filepath.Join(t.TempDir(), "external-etcd"),
		ClientPort: etcdPorts[0],
		PeerPort:   etcdPorts[1],
	})
	if err != nil {
		t.Fatal(err)
	}
	defer external.Close()

	state := filepath.Join(t.TempDir(), "state")
	run := startUp(t, "--state-dir", state, "--bin-dir", binDir, "--components", "apiserver",
		"--apiserver-port", strconv.Itoa(testutil.FreePort(t)),
		"--nats-port", strconv.Itoa(etcdPorts[2]),
		"--etcd-servers", external.ClientURL())
	// The stand-in is ready only when the etcd it was given answers.
	run.waitUp(t, state)
	dir := statedir.Dir{Root: state}
	if got := readFile(t, dir.EtcdURLFile()); got != external.ClientURL()+"\n" {
		t.Errorf("etcd.url = %q, want %q", got, external.ClientURL())
	}
	if _, err := os.Stat(dir.EtcdDataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an embedded etcd data dir was created: %v", err)
	}
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestUpFailsEarly(t *testing.T) {
	emptyBinDir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no apiserver binary", args: []string{"--bin-dir", emptyBinDir}, wantErr: "drover-apiserver not found in " + emptyBinDir},
		{name: "bind address not an IP", args: []string{"--bind-address", "localhost"}, wantErr: "not an IP address"},
		{name: "no replicas", args: []string{"--apiserver-replicas", "0"}, wantErr: "at least 1"},
		{name: "port out of range", args: []string{"--apiserver-port", "70000"}, wantErr: "between 1 and 65535"},
		{name: "etcd port clash", args: []string{"--etcd-port", "2380"}, wantErr: "both 2380"},
		{name: "bad etcd server", args: []string{"--etcd-servers", "127.0.0.1:2379"}, wantErr: "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs(append([]string{"up", "--state-dir", filepath.Join(t.TempDir(), "state")}, tt.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("drover up = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
