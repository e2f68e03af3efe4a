package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"drover.dev/drover/internal/testutil"
)

const waitTimeout = 10 * time.Second

// shell describes a daemon that runs script with /bin/sh; DIR in the script
// is the test's temp dir.
func shell(t *testing.T, name, script string) Daemon {
	t.Helper()
	return Daemon{Name: name, Binary: "/bin/sh", Args: []string{"-c", script}, Env: []string{"DIR=" + t.TempDir()}}
}

func dirOf(d Daemon) string { return strings.TrimPrefix(d.Env[0], "DIR=") }

func newSupervisor(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	s := New(cfg)
	t.Cleanup(s.Stop)
	return s
}

// fileExists is a readiness check for daemons that touch a file when ready.
func fileExists(path string) ReadinessCheck {
	return func(context.Context) error {
		_, err := os.Stat(path)
		return err
	}
}

// alive reports whether pid is a live process; zombies count as dead since
// nothing may reap orphans in a container.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, waitTimeout, func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err
	})
	return pid
}

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name   string
		ranFor []time.Duration
		want   []time.Duration
	}{
		{
			name:   "crash loop doubles up to the cap",
			ranFor: []time.Duration{0, 0, 0, 0, 0, 0, 0},
			want:   []time.Duration{1, 2, 4, 8, 16, 30, 30},
		},
		{
			name:   "a long run starts over",
			ranFor: []time.Duration{0, 0, 0, 30, 0},
			want:   []time.Duration{1, 2, 4, 1, 2},
		},
		{
			name:   "a short run does not",
			ranFor: []time.Duration{0, 29, 29},
			want:   []time.Duration{1, 2, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(time.Second, 30*time.Second)
			for i, ran := range tt.ranFor {
				if got := b.delay(ran * time.Second); got != tt.want[i]*time.Second {
					t.Errorf("delay %d = %s, want %s", i, got, tt.want[i]*time.Second)
				}
			}
		})
	}
}

func TestRestartsCrashingDaemonWithBackoff(t *testing.T) {
	s := newSupervisor(t, Config{})
	var mu sync.Mutex
	var delays []time.Duration
	s.after = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		delays = append(delays, d)
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}
	d := shell(t, "crasher", `echo run >> "$DIR/runs"; exit 3`)
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		if st, _ := s.Status("crasher"); st.Starts < 8 || st.LastExit != "exit status 3" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	s.Stop()

	mu.Lock()
	defer mu.Unlock()
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if len(delays) < len(want) || !slices.Equal(delays[:len(want)], want) {
		t.Errorf("restart delays = %v, want %v...", delays, want)
	}
	st, _ := s.Status("crasher")
	runs, err := os.ReadFile(filepath.Join(dirOf(d), "runs"))
	if err != nil {
		t.Fatal(err)
	}
	// The last process may have been stopped before it wrote its line.
	if n := strings.Count(string(runs), "run\n"); n != st.Starts && n != st.Starts-1 {
		t.Errorf("daemon ran %d times, status says %d starts", n, st.Starts)
	}
}

func TestRestartsKilledDaemon(t *testing.T) {
	s := newSupervisor(t, Config{InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, ReadyPollInterval: 10 * time.Millisecond})
	d := shell(t, "victim", `echo $$ > "$DIR/pid.$$"; touch "$DIR/ready.$$"; exec sleep 1000`)
	dir := dirOf(d)
	d.Ready = func(context.Context) error {
		st, _ := s.Status("victim")
		_, err := os.Stat(filepath.Join(dir, "ready."+strconv.Itoa(st.PID)))
		return err
	}
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.WaitReady(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	first, _ := s.Status("victim")
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	testutil.Eventually(t, waitTimeout, func() error {
		st, _ := s.Status("victim")
		if st.Starts != 2 || st.PID == 0 || st.PID == first.PID {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if err := s.WaitReady(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status("victim"); st.LastExit != "signal: killed" {
		t.Errorf("last exit = %q, want signal: killed", st.LastExit)
	}
}

func TestStopTerminatesProcessGroup(t *testing.T) {
	s := newSupervisor(t, Config{})
	// The daemon's own child must be stopped too, though nobody told the
	// daemon to pass the signal on.
	d := shell(t, "parent", `sleep 1000 & echo $! > "$DIR/child"; wait`)
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	child := readPID(t, filepath.Join(dirOf(d), "child"))
	st, _ := s.Status("parent")
	if !alive(child) || !alive(st.PID) {
		t.Fatal("daemon or its child is not running")
	}
	if pgid, err := syscall.Getpgid(st.PID); err != nil || pgid != st.PID {
		t.Errorf("daemon's process group = %d (%v), want its own (%d)", pgid, err, st.PID)
	}
	if pgid, _ := syscall.Getpgid(child); pgid != st.PID {
		t.Errorf("child's process group = %d, want the daemon's (%d)", pgid, st.PID)
	}

	start := time.Now()
	s.Stop()
	if took := time.Since(start); took > DefaultStopGracePeriod/2 {
		t.Errorf("stop took %s: SIGTERM was not enough?", took)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		if alive(child) {
			return fmt.Errorf("child %d still runs", child)
		}
		return nil
	})
	if alive(st.PID) {
		t.Errorf("daemon %d still runs", st.PID)
	}
	if got, _ := s.Status("parent"); got.PID != 0 || got.LastExit != "signal: terminated" {
		t.Errorf("status after stop = %+v, want terminated", got)
	}
}

func TestStopKillsDaemonIgnoringSIGTERM(t *testing.T) {
	grace := 300 * time.Millisecond
	s := newSupervisor(t, Config{StopGracePeriod: grace, ReadyPollInterval: 10 * time.Millisecond})
	// An ignored signal stays ignored across exec, so the sleeps ignore it too.
	d := shell(t, "stubborn", `trap "" TERM; sleep 1000 & echo $! > "$DIR/child"; touch "$DIR/ready"; wait`)
	d.Ready = fileExists(filepath.Join(dirOf(d), "ready"))
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.WaitReady(ctx, "stubborn"); err != nil {
		t.Fatal(err)
	}
	child := readPID(t, filepath.Join(dirOf(d), "child"))

	start := time.Now()
	s.Stop()
	if took := time.Since(start); took < grace {
		t.Errorf("stop took %s, less than the grace period %s", took, grace)
	}
	if st, _ := s.Status("stubborn"); st.LastExit != "signal: killed" {
		t.Errorf("last exit = %q, want signal: killed", st.LastExit)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		if alive(child) {
			return fmt.Errorf("child %d still runs", child)
		}
		return nil
	})
}

func TestOutputIsPrefixedAndLogged(t *testing.T) {
	var stdout, stderr bytes.Buffer
	logDir := filepath.Join(t.TempDir(), "logs")
	s := newSupervisor(t, Config{LogDir: logDir, Stdout: &stdout, Stderr: &stderr})
	s.after = func(time.Duration) <-chan time.Time { return nil } // no restart
	d := shell(t, "talker", `printf 'one\ntwo\n'; printf 'oops\n' >&2; printf 'no newline'`)
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		if st, _ := s.Status("talker"); st.LastExit == "" {
			return errors.New("still running")
		}
		return nil
	})
	s.Stop()

	if want := "[talker] one\n[talker] two\n[talker] no newline\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
	if want := "[talker] oops\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
	logged, err := os.ReadFile(filepath.Join(logDir, "talker.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"one\n", "two\n", "oops\n", "no newline\n"} {
		if !strings.Contains(string(logged), line) {
			t.Errorf("log file %q lacks %q", logged, line)
		}
	}
	if strings.Contains(string(logged), "[talker]") {
		t.Errorf("log file lines carry the prefix: %q", logged)
	}
}

type recordingSink struct{ lines []string }

func (r *recordingSink) Write(p []byte) (int, error) {
	r.lines = append(r.lines, string(p))
	return len(p), nil
}

func TestLineWriterSplitsLines(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line", []string{"a\n"}, []string{"> a\n"}},
		{"two lines in one write", []string{"a\nb\n"}, []string{"> a\n", "> b\n"}},
		{"line across writes", []string{"he", "llo\nwor", "ld\n"}, []string{"> hello\n", "> world\n"}},
		{"empty line", []string{"\n"}, []string{"> \n"}},
		{"unterminated tail is flushed", []string{"a\nb"}, []string{"> a\n", "> b\n"}},
		{"overlong unterminated line is passed on", []string{long, "y\n"}, []string{"> " + long + "\n", "> y\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &recordingSink{}
			w := &lineWriter{sink: &lineSink{mu: &sync.Mutex{}, prefix: []byte("> "), out: out}}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			if !slices.Equal(out.lines, tt.want) {
				t.Errorf("lines = %.200q, want %.200q", out.lines, tt.want)
			}
		})
	}
}

func TestWaitReadyGivesUpWithReason(t *testing.T) {
	s := newSupervisor(t, Config{ReadyPollInterval: 10 * time.Millisecond})
	d := shell(t, "never", `exec sleep 1000`)
	d.Ready = func(context.Context) error { return errors.New("not listening") }
	if err := s.Start(d); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.WaitReady(ctx, "never")
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady = %v, want ErrNotReady and deadline exceeded", err)
	}
	if !strings.Contains(err.Error(), "not listening") {
		t.Errorf("error %q does not say why", err)
	}
	if err := s.WaitReady(ctx, "nobody"); !errors.Is(err, ErrUnknownDaemon) {
		t.Errorf("WaitReady(unknown) = %v, want ErrUnknownDaemon", err)
	}
}

func TestStartRejects(t *testing.T) {
	s := newSupervisor(t, Config{})
	if err := s.Start(shell(t, "one", "exec sleep 1000")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		daemon  Daemon
		stopped bool
		wantErr error
	}{
		{name: "duplicate name", daemon: shell(t, "one", "exec sleep 1000"), wantErr: ErrDuplicateDaemon},
		{name: "missing binary", daemon: Daemon{Name: "ghost", Binary: filepath.Join(t.TempDir(), "drover-ghost")}, wantErr: os.ErrNotExist},
		{name: "after stop", daemon: shell(t, "late", "exec sleep 1000"), stopped: true, wantErr: ErrStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.stopped {
				s.Stop()
			}
			if err := s.Start(tt.daemon); !errors.Is(err, tt.wantErr) {
				t.Errorf("Start = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestHTTPGetCheck(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"ok", http.StatusOK, false},
		{"not ready", http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/readyz" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			err := HTTPGetCheck(srv.Client(), srv.URL+"/readyz")(context.Background())
			if (err != nil) != tt.wantErr {
				t.Errorf("check = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
