package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"drover.dev/drover/internal/nodenet"
	"drover.dev/drover/internal/testutil"
)

// TestBinaryUpDown runs the built drover as a user would: drover up in the
// background, then drover down --purge from another process, which must stop
// it, its apiserver and etcd, and delete the state directory.
func TestBinaryUpDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds drover")
	}
	binDir := t.TempDir()
	drover := testutil.Build(t, "drover.dev/drover", binDir, "drover")
	testutil.BuildStandInAPIServer(t, binDir) // found beside drover: no --bin-dir
	state := filepath.Join(t.TempDir(), "state")
	apiPort := testutil.FreePort(t)
	etcdPorts := testutil.FreePorts(t, 3) // etcd client, etcd peer, NATS

	up := exec.Command(drover, "up", "--state-dir", state, "--components", "apiserver",
		"--apiserver-port", strconv.Itoa(apiPort),
		"--etcd-port", strconv.Itoa(etcdPorts[0]), "--etcd-peer-port", strconv.Itoa(etcdPorts[1]),
		"--nats-port", strconv.Itoa(etcdPorts[2]))
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testutil.Buffer{}
	up.Stderr = stderr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("drover up stderr:\n%s", stderr)
		}
	})

	upLine := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "drover is up: ") {
				upLine <- sc.Text()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-upLine:
		want := fmt.Sprintf("drover is up: export KUBECONFIG=%s; kubectl get namespaces", filepath.Join(state, "kubeconfig"))
		if line != want {
			t.Errorf("got %q, want %q", line, want)
		}
	case err := <-exited:
		exited <- err
		t.Fatalf("drover up exited before it was up: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("drover up did not come up")
	}

	out, err := exec.Command(drover, "down", "--state-dir", state).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--purge") {
		t.Errorf("drover down without --purge = %v, %q; want a refusal naming --purge", err, out)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state dir gone after a refused down: %v", err)
	}

	out, err = exec.Command(drover, "down", "--purge", "--state-dir", state).CombinedOutput()
	if err != nil {
		t.Fatalf("drover down --purge: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("stopping drover up (pid %d)", up.Process.Pid); !strings.Contains(string(out), want) {
		t.Errorf("drover down said %q, want %q", out, want)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("drover up exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("drover up still runs after drover down")
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir still exists: %v", err)
	}
	for _, port := range []int{apiPort, etcdPorts[0]} {
		if conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			conn.Close()
			t.Errorf("port %d still served after drover down", port)
		}
	}
}

// TestBinaryNetNSExec runs a program in a node's network namespace the way drover up
// runs a node's kubelet: the program sees the node's addresses, not the host's.
func TestBinaryNetNSExec(t *testing.T) {
	if testing.Short() {
		t.Skip("builds drover")
	}
	drover := testutil.Build(t, "drover.dev/drover", t.TempDir(), "drover")
	n, err := nodenet.New(nodenet.Config{Bridge: "drvx" + strconv.Itoa(os.Getpid()%10000), Network: netip.MustParsePrefix("198.19.250.0/24"), ClusterID: "x" + strconv.Itoa(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	node, err := n.Node(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.TeardownNode(node); err != nil {
			t.Error(err)
		}
		if err := n.TeardownBridge(); err != nil {
			t.Error(err)
		}
	})
	if err := n.EnsureBridge(); err != nil {
		t.Fatal(err)
	}
	if err := n.EnsureNode(node); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(drover, "netns-exec", node.NetNS, "--", "cat", "/proc/net/fib_trie").CombinedOutput()
	if err != nil {
		t.Fatalf("netns-exec: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), node.IP.String()) {
		t.Errorf("the program does not see the node's address %s:\n%s", node.IP, out)
	}
	host, err := os.ReadFile("/proc/net/fib_trie")
	if err != nil {
		t.Fatal(err)
	}
	if string(host) == string(out) {
		t.Error("the program sees the host's routing table")
	}

	out, err = exec.Command(drover, "netns-exec", "/run/netns/does-not-exist", "--", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "does-not-exist") {
		t.Errorf("netns-exec into a missing namespace = %v, %q; want an error naming it", err, out)
	}
}
