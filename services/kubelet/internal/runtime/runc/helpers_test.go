package runc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/network"
	"drover.dev/kubelet/internal/nsfs/nsfstest"
	"drover.dev/kubelet/internal/runtime"
)

const busyboxImage = "sha256:busybox-test"

func TestMain(m *testing.M) {
	// The test binary is also `runc init` and the shim.
	HandleReexec()
	if len(os.Args) > 1 && os.Args[1] == "test-create" {
		os.Exit(testCreateMain(os.Args[2:]))
	}
	// Pods, veths and routes live in a network namespace of the test's own.
	if code, done := nsfstest.Reexec(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// layers is a LayerSource of one directory per image.
type layers map[string]string

func (l layers) LayerDirs(imageID string) ([]string, error) {
	d, ok := l[imageID]
	if !ok {
		return nil, runtime.ErrImageNotPresent
	}
	return []string{d}, nil
}

// busyboxLayer makes a one-layer rootfs from the host's static busybox.
func busyboxLayer(dir string) error {
	const bb = "/bin/busybox"
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox-static is needed (apt-get install busybox-static): %w", err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "www", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), b, 0o755); err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		applet := strings.TrimSpace(sc.Text())
		if applet == "" || applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":      "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n",
		"www/index.html": "hello from httpd\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// env is one test's runtime with its root, cgroup parent and network.
type env struct {
	t    *testing.T
	opts Options
	rt   *Runtime
}

var cidrSeq = 0

func newEnv(t *testing.T) *env {
	t.Helper()
	tmp := t.TempDir()
	layer := filepath.Join(tmp, "layer")
	if err := busyboxLayer(layer); err != nil {
		t.Fatal(err)
	}
	cidrSeq++
	nw, err := network.New(network.Config{PodCIDR: fmt.Sprintf("10.78.%d.0/24", cidrSeq), StateDir: filepath.Join(tmp, "ipam")})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		RootDir:      filepath.Join(tmp, "root"),
		Layers:       layers{busyboxImage: layer},
		Network:      nw,
		CgroupParent: fmt.Sprintf("drover-test-%d-%s", os.Getpid(), newID()[:8]),
		LogMaxSize:   1 << 20,
	}
	rt, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, opts: opts, rt: rt}
	t.Cleanup(e.cleanup)
	return e
}

// cleanup removes every sandbox and checks nothing is left: no mounts
// under the root, no cgroups, no shims.
func (e *env) cleanup() {
	t := e.t
	ctx := context.Background()
	sbs, err := e.rt.ListPodSandboxes(ctx)
	if err != nil {
		t.Error(err)
	}
	for _, sb := range sbs {
		if err := e.rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			t.Errorf("remove sandbox %s: %v", sb.ID, err)
		}
	}
	// Containers outside any sandbox (a failed test) too.
	cs, _ := e.rt.ListContainers(ctx, "")
	for _, c := range cs {
		if err := e.rt.RemoveContainer(ctx, c.ID); err != nil {
			t.Errorf("remove container %s: %v", c.ID, err)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.Lines(string(mi)) {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], e.opts.RootDir) {
			t.Errorf("mount left behind: %s", f[4])
			_ = unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, root := range roots {
		p := filepath.Join(root, e.opts.CgroupParent)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if left, _ := filepath.Glob(filepath.Join(p, "pod*")); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
			for _, l := range left {
				subs, _ := filepath.Glob(filepath.Join(l, "*"))
				for _, s := range subs {
					_ = unix.Rmdir(s)
				}
				_ = unix.Rmdir(l)
			}
		}
		if err := unix.Rmdir(p); err != nil {
			t.Errorf("remove cgroup parent %s: %v", p, err)
		}
	}
}

var podSeq = 0

func (e *env) sandbox(name string) *runtime.SandboxStatus {
	e.t.Helper()
	podSeq++
	sb, err := e.rt.RunPodSandbox(context.Background(), runtime.SandboxConfig{
		PodUID: fmt.Sprintf("uid-%s-%d", name, podSeq), Name: name, Namespace: "default",
		DNS: runtime.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return sb
}

func cmd(name string, args ...string) runtime.ContainerConfig {
	return runtime.ContainerConfig{Name: name, ImageRef: busyboxImage, Image: "busybox", Command: args}
}

// run creates and starts a container.
func (e *env) run(sandboxID string, cfg runtime.ContainerConfig) string {
	e.t.Helper()
	ctx := context.Background()
	id, err := e.rt.CreateContainer(ctx, sandboxID, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.StartContainer(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// waitExited waits for the container to exit and returns its status.
func (e *env) waitExited(id string, timeout time.Duration) *runtime.ContainerStatus {
	e.t.Helper()
	var st *runtime.ContainerStatus
	eventually(e.t, timeout, func() bool {
		var err error
		st, err = e.rt.ContainerStatus(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		return st.State == runtime.ContainerExited
	})
	return st
}

func (e *env) logs(id string) string {
	e.t.Helper()
	var b strings.Builder
	if err := e.rt.ContainerLogs(context.Background(), id, runtime.LogOptions{}, &b); err != nil {
		e.t.Fatal(err)
	}
	return b.String()
}

func eventually(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
