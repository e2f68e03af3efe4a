package runc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"drover.dev/kubelet/internal/logs"
	"drover.dev/kubelet/internal/runtime"
)

func TestTwoContainersShareLocalhost(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("web")
	if sb.IP == "" || sb.State != runtime.SandboxReady {
		t.Fatalf("sandbox %+v", sb)
	}
	server := e.run(sb.ID, cmd("server", "httpd", "-f", "-p", "8080", "-h", "/www"))
	client := e.run(sb.ID, cmd("client", "sh", "-c",
		`for i in $(seq 100); do wget -q -O- http://127.0.0.1:8080/ && hostname && cat /etc/resolv.conf && exit 0; sleep 0.05; done; exit 1`))
	st := e.waitExited(client, 20*time.Second)
	out := e.logs(client)
	if st.ExitCode != 0 || st.Reason != "Completed" {
		t.Fatalf("client exited %d %s; log:\n%s", st.ExitCode, st.Reason, out)
	}
	for _, want := range []string{"hello from httpd", "\nweb\n", "nameserver 10.96.0.10", "search default.svc.cluster.local", "options ndots:5"} {
		if !strings.Contains(out, want) {
			t.Fatalf("client log lacks %q:\n%s", want, out)
		}
	}
	if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Fatalf("times: started %v finished %v", st.StartedAt, st.FinishedAt)
	}
	if s, _ := e.rt.ContainerStatus(context.Background(), server); s.State != runtime.ContainerRunning {
		t.Fatalf("server state %s", s.State)
	}
	cs, err := e.rt.ListContainers(context.Background(), sb.ID)
	if err != nil || len(cs) != 2 {
		t.Fatalf("list = %d containers, %v", len(cs), err)
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("exit")
	tests := []struct {
		name     string
		args     []string
		code     int32
		reason   string
		message  string
		sigValue string
	}{
		{name: "true", args: []string{"true"}, code: 0, reason: "Completed"},
		{name: "exit-3", args: []string{"sh", "-c", "exit 3"}, code: 3, reason: "Error"},
		{name: "exit-255", args: []string{"sh", "-c", "exit 255"}, code: 255, reason: "Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.run(sb.ID, cmd(tt.name, tt.args...))
			st := e.waitExited(id, 10*time.Second)
			if st.ExitCode != tt.code || st.Reason != tt.reason {
				t.Fatalf("exit %d %q, want %d %q", st.ExitCode, st.Reason, tt.code, tt.reason)
			}
		})
	}
	// A missing binary fails at start, not silently.
	id, err := e.rt.CreateContainer(context.Background(), sb.ID, cmd("missing", "/no/such/binary"))
	if err == nil {
		err = e.rt.StartContainer(context.Background(), id)
	}
	if err == nil {
		st := e.waitExited(id, 10*time.Second)
		if st.ExitCode == 0 {
			t.Fatal("missing binary exited 0")
		}
	}
	t.Logf("missing binary: %v", err)
	cs, _ := e.rt.ListContainers(context.Background(), sb.ID)
	for _, c := range cs {
		t.Logf("%s %s %d %s", c.Name, c.State, c.ExitCode, c.Message)
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("oom")
	c := cmd("hog", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	c.Resources.MemoryLimit = 16 << 20
	id := e.run(sb.ID, c)
	st := e.waitExited(id, 20*time.Second)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Fatalf("exit %d %q, want 137 OOMKilled; log: %s", st.ExitCode, st.Reason, e.logs(id))
	}
}

func TestStopContainer(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("stop")
	ctx := context.Background()

	graceful := e.run(sb.ID, cmd("graceful", "sh", "-c",
		`trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.05; done`))
	eventually(t, 10*time.Second, func() bool { return strings.Contains(e.logs(graceful), "ready") })
	start := time.Now()
	if err := e.rt.StopContainer(ctx, graceful, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := e.rt.ContainerStatus(ctx, graceful)
	if st.State != runtime.ContainerExited || st.ExitCode != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("graceful stop: %s %d after %v", st.State, st.ExitCode, time.Since(start))
	}
	if !strings.Contains(e.logs(graceful), "got TERM") {
		t.Fatalf("trap did not run: %s", e.logs(graceful))
	}

	// PID 1 without a handler ignores SIGTERM: killed after the timeout.
	stubborn := e.run(sb.ID, cmd("stubborn", "sleep", "1000"))
	start = time.Now()
	if err := e.rt.StopContainer(ctx, stubborn, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, _ = e.rt.ContainerStatus(ctx, stubborn)
	if st.ExitCode != 137 || took < 500*time.Millisecond {
		t.Fatalf("kill after timeout: exit %d after %v", st.ExitCode, took)
	}
	// Idempotent.
	if err := e.rt.StopContainer(ctx, stubborn, time.Second); err != nil {
		t.Fatal(err)
	}

	// The image's stop signal is used.
	quit := cmd("quit", "sh", "-c", `trap 'echo got QUIT; exit 0' QUIT; trap '' TERM; echo ready; while true; do sleep 0.05; done`)
	quit.StopSignal = "SIGQUIT"
	q := e.run(sb.ID, quit)
	eventually(t, 10*time.Second, func() bool { return strings.Contains(e.logs(q), "ready") })
	if err := e.rt.StopContainer(ctx, q, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs(q), "got QUIT") {
		t.Fatalf("stop signal not sent: %s", e.logs(q))
	}

	// Removing an exited container keeps its log file.
	st, _ = e.rt.ContainerStatus(ctx, q)
	if err := e.rt.RemoveContainer(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.LogPath); err != nil {
		t.Fatalf("log gone after RemoveContainer: %v", err)
	}
	if _, err := e.rt.ContainerStatus(ctx, q); err == nil {
		t.Fatal("removed container still has a status")
	}
}

func TestLogsCRIFormat(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("logs")
	id := e.run(sb.ID, cmd("talker", "sh", "-c",
		`echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\0' x; echo; printf 'no newline'`))
	st := e.waitExited(id, 10*time.Second)
	if st.ExitCode != 0 {
		t.Fatalf("exit %d", st.ExitCode)
	}
	want := filepath.Join(e.opts.RootDir, "logs", "default_logs_"+sbUID(t, e, sb.ID), "talker", "0.log")
	if st.LogPath != want {
		t.Fatalf("log path %s, want %s", st.LogPath, want)
	}
	raw, err := os.ReadFile(st.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for line := range strings.Lines(string(raw)) {
		en, err := logs.ParseLine([]byte(line))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		tag := "F"
		if en.Partial {
			tag = "P"
		}
		tags = append(tags, fmt.Sprintf("%s:%s:%d", en.Stream, tag, len(en.Message)))
	}
	// The 20000-byte line is one 16 KiB partial entry and a full rest.
	got := strings.Join(tags, " ")
	for _, w := range []string{"stdout:F:4", "stderr:F:4", "stdout:P:16384 stdout:F:3616", "stdout:F:10"} {
		if !strings.Contains(got, w) {
			t.Fatalf("entries %s lack %s", got, w)
		}
	}
	out := e.logs(id)
	if !strings.Contains(out, "out1\n") || !strings.Contains(out, "err1\n") ||
		!strings.Contains(out, strings.Repeat("x", 20000)+"\n") || !strings.HasSuffix(out, "no newline\n") {
		t.Fatalf("logs read back wrong (%d bytes)", len(out))
	}
	tail := int64(1)
	var b strings.Builder
	if err := e.rt.ContainerLogs(context.Background(), id, runtime.LogOptions{TailLines: &tail, Timestamps: true}, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "Z no newline\n") || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("tail 1 with timestamps = %q", b.String())
	}
}

func sbUID(t *testing.T, e *env, id string) string {
	m, err := e.rt.readSandbox(id)
	if err != nil {
		t.Fatal(err)
	}
	return m.Config.PodUID
}

func TestFollowEndsWhenContainerExits(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("follow")
	id := e.run(sb.ID, cmd("ticker", "sh", "-c", `for i in 1 2 3 4 5; do echo tick $i; sleep 0.1; done`))
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.rt.ContainerLogs(ctx, id, runtime.LogOptions{Follow: true}, &b); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("follow ran until the deadline")
	}
	if b.String() != "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n" {
		t.Fatalf("followed %q", b.String())
	}
}

// testCreateMain runs in a child process: it makes a sandbox and a running
// container, prints their ids and exits, as a kubelet that then dies.
func testCreateMain(args []string) int {
	if len(args) != 3 {
		return 2
	}
	rt, err := New(Options{RootDir: args[0], Layers: layers{busyboxImage: args[1]}, CgroupParent: args[2]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-adopt", Name: "adopt", Namespace: "default"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id, err := rt.CreateContainer(ctx, sb.ID, cmd("waiter", "sh", "-c",
		`echo started; while [ ! -e /dev/shm/go ]; do sleep 0.05; done; echo bye; exit 7`))
	if err == nil {
		err = rt.StartContainer(ctx, id)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(sb.ID, id)
	return 0
}

func TestAdoptAfterRestart(t *testing.T) {
	e := newEnv(t)
	layer := e.opts.Layers.(layers)[busyboxImage]
	// Another process (a kubelet) creates the pod and exits.
	out, err := exec.Command("/proc/self/exe", "test-create", e.opts.RootDir, layer, e.opts.CgroupParent).CombinedOutput()
	if err != nil {
		t.Fatalf("creator: %v: %s", err, out)
	}
	var sbID, id string
	if _, err := fmt.Sscan(string(out), &sbID, &id); err != nil {
		t.Fatalf("creator said %q", out)
	}
	// A new Runtime on the same root sees both.
	rt2, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sbs, err := rt2.ListPodSandboxes(ctx)
	if err != nil || len(sbs) != 1 || sbs[0].ID != sbID || sbs[0].State != runtime.SandboxReady {
		t.Fatalf("sandboxes %+v, %v", sbs, err)
	}
	st, err := rt2.ContainerStatus(ctx, id)
	if err != nil || st.State != runtime.ContainerRunning {
		t.Fatalf("adopted container %+v, %v", st, err)
	}
	eventually(t, 10*time.Second, func() bool {
		var b strings.Builder
		_ = rt2.ContainerLogs(ctx, id, runtime.LogOptions{}, &b)
		return strings.Contains(b.String(), "started")
	})
	// It exits while no one created it in this process: the code is kept.
	if err := os.WriteFile(filepath.Join(e.opts.RootDir, "sandboxes", sbID, "shm", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.rt = rt2
	st = e.waitExited(id, 10*time.Second)
	if st.ExitCode != 7 || st.Reason != "Error" {
		b, _ := os.ReadFile(filepath.Join(e.opts.RootDir, "containers", id, shimLogFile))
		t.Fatalf("exit %d %s %s, want 7 Error; shim log:\n%s", st.ExitCode, st.Reason, st.Message, b)
	}
	if got := e.logs(id); got != "started\nbye\n" {
		t.Fatalf("log %q", got)
	}
}

func TestTwoPodsReachEachOther(t *testing.T) {
	e := newEnv(t)
	a, b := e.sandbox("a"), e.sandbox("b")
	if a.IP == b.IP {
		t.Fatalf("same IP %s", a.IP)
	}
	e.run(a.ID, cmd("server", "httpd", "-f", "-p", "8080", "-h", "/www"))
	client := e.run(b.ID, cmd("client", "sh", "-c",
		fmt.Sprintf(`for i in $(seq 100); do wget -q -O- http://%s:8080/ && exit 0; sleep 0.05; done; exit 1`, a.IP)))
	st := e.waitExited(client, 20*time.Second)
	if st.ExitCode != 0 || !strings.Contains(e.logs(client), "hello from httpd") {
		t.Fatalf("pod b → pod a: exit %d, log %q", st.ExitCode, e.logs(client))
	}
}

func TestSecurityContext(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox("sec")
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name    string
		sec     runtime.SecurityConfig
		user    string
		script  string
		want    []string
		notWant []string
	}{
		// The shell's error goes nowhere: stderr is another pipe, and its
		// line could land between the stdout lines checked below.
		{name: "defaults", script: `grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status; id -u; wc -c < /proc/timer_list; { echo x > /proc/sys/kernel/domainname; } 2>/dev/null || echo ro-proc-sys`,
			// Docker's default capability set, seccomp filter mode.
			want: []string{"CapBnd:\t00000000a80425fb", "CapEff:\t00000000a80425fb", "Seccomp:\t2", "NoNewPrivs:\t0", "\n0\n0\n", "ro-proc-sys"}},
		{name: "read-only rootfs", sec: runtime.SecurityConfig{ReadOnlyRootFilesystem: true},
			script: `touch /x 2>&1 || echo denied; touch /dev/shm/ok && echo shm-writable`,
			want:   []string{"Read-only file system", "denied", "shm-writable"}},
		{name: "run as user", sec: runtime.SecurityConfig{RunAsUser: i64(1000), SupplementalGroups: []int64{3000}},
			script: `id -u; id -g; id -G; grep -E '^CapEff:' /proc/self/status`,
			want:   []string{"1000\n1000\n", "2000", "3000", "CapEff:\t0000000000000000"}},
		{name: "image user", user: "nobody", script: `id -u; id -g`, want: []string{"65534\n65534\n"}},
		{name: "run as group", sec: runtime.SecurityConfig{RunAsUser: i64(1000), RunAsGroup: i64(4000)},
			script: `id -g`, want: []string{"4000\n"}},
		{name: "drop all add one", sec: runtime.SecurityConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}},
			script: `grep -E '^CapBnd:' /proc/self/status`, want: []string{"CapBnd:\t0000000000000400"}},
		{name: "drop chown", sec: runtime.SecurityConfig{CapDrop: []string{"CAP_CHOWN"}},
			script: `chown 1000 /tmp && echo chowned || echo no-chown`, want: []string{"no-chown"}, notWant: []string{"chowned"}},
		{name: "no new privileges", sec: runtime.SecurityConfig{NoNewPrivileges: true},
			script: `grep NoNewPrivs /proc/self/status`, want: []string{"NoNewPrivs:\t1"}},
		{name: "unconfined", sec: runtime.SecurityConfig{Unconfined: true},
			script: `grep Seccomp: /proc/self/status`, want: []string{"Seccomp:\t0"}},
		{name: "privileged", sec: runtime.SecurityConfig{Privileged: true},
			script: `grep -E '^(CapBnd|Seccomp):' /proc/self/status; [ "$(head -c 1 /proc/timer_list | wc -c)" = 1 ] && echo timer-list-readable`,
			want:   []string{"Seccomp:\t0", "timer-list-readable"}, notWant: []string{"CapBnd:\t00000000a80425fb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cmd(strings.ReplaceAll(tt.name, " ", "-"), "sh", "-c", tt.script)
			c.Security, c.User = tt.sec, tt.user
			id := e.run(sb.ID, c)
			e.waitExited(id, 10*time.Second)
			out := e.logs(id)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestInvalidConfigs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.rt.RunPodSandbox(ctx, runtime.SandboxConfig{Name: "x", Namespace: "y"}); err == nil {
		t.Fatal("sandbox without UID accepted")
	}
	if _, err := e.rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "../x", Name: "x", Namespace: "y"}); err == nil {
		t.Fatal("sandbox with a path in its UID accepted")
	}
	sb := e.sandbox("bad")
	bad := []runtime.ContainerConfig{
		{Name: "", ImageRef: busyboxImage, Command: []string{"true"}},
		{Name: "a", ImageRef: busyboxImage},
		{Name: "a", ImageRef: "sha256:nope", Command: []string{"true"}},
		{Name: "a", ImageRef: busyboxImage, Command: []string{"true"}, StopSignal: "SIGNOPE"},
		{Name: "a", ImageRef: busyboxImage, Command: []string{"true"}, Security: runtime.SecurityConfig{CapAdd: []string{"CAP_NOPE"}}},
		{Name: "a", ImageRef: busyboxImage, Command: []string{"true"}, User: "nosuchuser"},
		{Name: "a", ImageRef: busyboxImage, Command: []string{"true"}, WorkingDir: "relative"},
	}
	for i, c := range bad {
		if _, err := e.rt.CreateContainer(ctx, sb.ID, c); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
	if _, err := e.rt.CreateContainer(ctx, "0123456789abcdef0123456789abcdef", cmd("x", "true")); err == nil {
		t.Fatal("unknown sandbox accepted")
	}
	if _, err := e.rt.ContainerStatus(ctx, "../../etc"); err == nil {
		t.Fatal("path as container id accepted")
	}
	// Nothing half-made is left.
	cs, _ := e.rt.ListContainers(ctx, "")
	ents, _ := os.ReadDir(filepath.Join(e.opts.RootDir, "containers"))
	if len(cs) != 0 || len(ents) != 0 {
		t.Fatalf("left %d containers, %d dirs", len(cs), len(ents))
	}
}

func TestSandboxLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg := runtime.SandboxConfig{PodUID: "uid-life", Name: "life", Namespace: "default",
		HostAliases: []runtime.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"foo", "bar"}}}}
	sb, err := e.rt.RunPodSandbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.rt.RunPodSandbox(ctx, cfg)
	if err != nil || again.ID != sb.ID {
		t.Fatalf("second RunPodSandbox gave %v, %v", again, err)
	}
	hosts, _ := os.ReadFile(filepath.Join(e.opts.RootDir, "sandboxes", sb.ID, "hosts"))
	if !strings.Contains(string(hosts), sb.IP+"\tlife") || !strings.Contains(string(hosts), "10.1.2.3\tfoo\tbar") {
		t.Fatalf("hosts:\n%s", hosts)
	}
	id := e.run(sb.ID, cmd("sleeper", "sleep", "1000"))
	if err := e.rt.StopPodSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.rt.ContainerStatus(ctx, id); st.State != runtime.ContainerExited {
		t.Fatalf("container after sandbox stop: %s", st.State)
	}
	sbs, _ := e.rt.ListPodSandboxes(ctx)
	if len(sbs) != 1 || sbs[0].State != runtime.SandboxNotReady {
		t.Fatalf("after stop: %+v", sbs)
	}
	if _, err := e.rt.CreateContainer(ctx, sb.ID, cmd("late", "true")); err == nil {
		t.Fatal("container created in a stopped sandbox")
	}
	// A new sandbox for the same pod is a new one.
	sb2, err := e.rt.RunPodSandbox(ctx, cfg)
	if err != nil || sb2.ID == sb.ID {
		t.Fatalf("new sandbox %v, %v", sb2, err)
	}
	for _, id := range []string{sb.ID, sb2.ID, sb.ID} {
		if err := e.rt.RemovePodSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if sbs, _ := e.rt.ListPodSandboxes(ctx); len(sbs) != 0 {
		t.Fatalf("left %d sandboxes", len(sbs))
	}
	// Host network: no IP, the node's hostname.
	hn, err := e.rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-hostnet", Name: "hostnet", Namespace: "default", HostNetwork: true})
	if err != nil || hn.IP != "" || hn.NetNSPath != "" {
		t.Fatalf("host network sandbox %+v, %v", hn, err)
	}
	c := e.run(hn.ID, cmd("h", "hostname"))
	e.waitExited(c, 10*time.Second)
	want, _ := os.Hostname()
	if got := e.logs(c); got != want+"\n" {
		t.Fatalf("hostname %q, want %q", got, want)
	}
}
