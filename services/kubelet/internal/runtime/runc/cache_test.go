package runc

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/runtime"
)

// TestStatusWhenShimDies: a container outlives its killed shim and is
// reported running; once it ends too, its exit code is lost and the status
// says so instead of staying running.
func TestStatusWhenShimDies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.sandbox("shimless")
	id, err := e.rt.CreateContainer(ctx, sb.ID, cmd("sleeper", "sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := e.rt.ContainerStatus(ctx, id); err != nil || st.State != runtime.ContainerCreated {
		t.Fatalf("after create: %+v, %v", st, err)
	}
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	dir := e.rt.containerDir(id)
	b, err := os.ReadFile(filepath.Join(dir, shimPidFile))
	if err != nil {
		t.Fatal(err)
	}
	shim, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(shim, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return !e.rt.shimAlive(dir) })
	if st, _ := e.rt.ContainerStatus(ctx, id); st.State != runtime.ContainerRunning {
		t.Fatalf("without its shim: %s, want running", st.State)
	}
	c, err := libcontainer.Load(e.rt.stateDir, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := e.waitExited(id, 10*time.Second)
	if st.ExitCode != 255 || !strings.Contains(st.Message, "exit code lost") {
		t.Fatalf("exit %d %q, want 255 and a lost exit code", st.ExitCode, st.Message)
	}
}

// TestExitWhileNoRuntime: a container that exits while no Runtime runs on
// the root (the kubelet is down) is reported with its code by the next.
func TestExitWhileNoRuntime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.sandbox("down")
	id := e.run(sb.ID, cmd("quick", "sh", "-c", "sleep 0.2; exit 3"))
	if st, _ := e.rt.ContainerStatus(ctx, id); st.State != runtime.ContainerRunning {
		t.Fatalf("state %s, want running", st.State)
	}
	// The first Runtime is gone from here on; the shim records the exit.
	eventually(t, 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(e.rt.containerDir(id), exitFile))
		return err == nil
	})
	rt2, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt2
	cs, err := rt2.ListContainers(ctx, "")
	if err != nil || len(cs) != 1 {
		t.Fatalf("list %+v, %v", cs, err)
	}
	if st := cs[0]; st.State != runtime.ContainerExited || st.ExitCode != 3 || st.StartedAt.IsZero() {
		t.Fatalf("adopted %+v, want exited 3", st)
	}
	sbs, err := rt2.ListPodSandboxes(ctx)
	if err != nil || len(sbs) != 1 || sbs[0].State != runtime.SandboxReady {
		t.Fatalf("sandboxes %+v, %v", sbs, err)
	}
}

func TestTrimSeccompArches(t *testing.T) {
	all := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	sc := &specs.LinuxSeccomp{Architectures: slices.Clone(all)}
	trimSeccompArches(sc)
	want := all
	if !x32Enabled() {
		want = all[:2]
	}
	if !slices.Equal(sc.Architectures, want) {
		t.Fatalf("arches %v, want %v (x32 enabled: %v)", sc.Architectures, want, x32Enabled())
	}
	trimSeccompArches(nil) // no profile: nothing to do
}
