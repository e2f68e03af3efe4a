package logs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock hands out increasing times, one second apart.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Entry
		wantErr bool
	}{
		{name: "full", line: "2016-10-06T00:17:09.669794202Z stdout F hello world\n",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC), Stream: Stdout, Message: []byte("hello world")}},
		{name: "partial", line: "2016-10-06T00:17:09.669794202Z stderr P abc",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC), Stream: Stderr, Partial: true, Message: []byte("abc")}},
		{name: "empty message", line: "2016-10-06T00:17:09Z stdout F ",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 0, time.UTC), Stream: Stdout, Message: []byte{}}},
		{name: "bad time", line: "yesterday stdout F x", wantErr: true},
		{name: "bad stream", line: "2016-10-06T00:17:09Z stdin F x", wantErr: true},
		{name: "bad tag", line: "2016-10-06T00:17:09Z stdout X x", wantErr: true},
		{name: "too short", line: "2016-10-06T00:17:09Z", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.line))
			if tt.wantErr {
				if !errors.Is(err, ErrBadLine) {
					t.Fatalf("err = %v, want ErrBadLine", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want.Time) || got.Stream != tt.want.Stream || got.Partial != tt.want.Partial || string(got.Message) != string(tt.want.Message) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriterSplitsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	c := newClock()
	w, err := NewWriter(path, WriterOptions{MaxLineSize: 16, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	in := "short\n" + strings.Repeat("x", 40) + "\nno newline at end"
	if err := w.Copy(Stdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var tags []string
	for _, l := range lines {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 || f[1] != "stdout" {
			t.Fatalf("bad line %q", l)
		}
		tags = append(tags, f[2]+":"+f[3])
	}
	want := []string{"F:short", "P:" + strings.Repeat("x", 16), "P:" + strings.Repeat("x", 16), "F:" + strings.Repeat("x", 8), "P:no newline at en", "F:d"}
	if strings.Join(tags, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %v\nwant %v", tags, want)
	}
	// Read back: partial chunks join into one line.
	var out bytes.Buffer
	if err := ReadLogs(context.Background(), path, ReadOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != in+"\n" {
		t.Fatalf("read back %q", out.String())
	}
}

func TestWriterRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	c := newClock()
	w, err := NewWriter(path, WriterOptions{MaxSize: 200, MaxFiles: 3, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 40 {
		line := strings.Repeat(string(rune('a'+i%26)), 20)
		want.WriteString(line + "\n")
		if err := w.WriteEntry(Entry{Stream: Stdout, Message: []byte(line)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	rotated, err := RotatedFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 {
		t.Fatalf("rotated files = %v, want 2", rotated)
	}
	for _, p := range append(rotated, path) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 200 {
			t.Fatalf("%s has %d bytes, over MaxSize", p, st.Size())
		}
	}
	var out bytes.Buffer
	if err := ReadLogs(context.Background(), path, ReadOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	// Three 61-byte entries fit in 200 bytes: two full rotated files and
	// one entry in the current file are left, the last 7 lines in order.
	lines := strings.SplitAfter(want.String(), "\n")
	if out.String() != strings.Join(lines[len(lines)-1-7:], "") {
		t.Fatalf("read %q", out.String())
	}
}

func TestReadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	c := newClock()
	w, err := NewWriter(path, WriterOptions{MaxLineSize: 16, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Copy(Stdout, strings.NewReader("one\ntwo\nthree-is-a-long-line\nfour\n")); err != nil {
		t.Fatal(err)
	}
	// Garbage in the file is skipped.
	w.mu.Lock()
	w.f.WriteString("not a log line\n")
	w.mu.Unlock()
	if err := w.Copy(Stderr, strings.NewReader("five\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Entry i (1-based) carries the clock's i-th tick.
	tick := func(i int) time.Time { return newClock().t.Add(time.Duration(i) * time.Second) }
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{name: "all", opts: ReadOptions{}, want: "one\ntwo\nthree-is-a-long-line\nfour\nfive\n"},
		{name: "tail 2", opts: ReadOptions{TailLines: i64(2)}, want: "four\nfive\n"},
		{name: "tail counts lines not chunks", opts: ReadOptions{TailLines: i64(3)}, want: "three-is-a-long-line\nfour\nfive\n"},
		{name: "tail 0", opts: ReadOptions{TailLines: i64(0)}, want: ""},
		{name: "tail more than all", opts: ReadOptions{TailLines: i64(100)}, want: "one\ntwo\nthree-is-a-long-line\nfour\nfive\n"},
		{name: "since", opts: ReadOptions{Since: tick(5)}, want: "four\nfive\n"},
		{name: "limit bytes", opts: ReadOptions{LimitBytes: i64(6)}, want: "one\ntw"},
		{name: "timestamps", opts: ReadOptions{Timestamps: true, TailLines: i64(1)},
			want: tick(6).Format(time.RFC3339Nano) + " five\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ReadLogs(context.Background(), path, tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while ReadLogs writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := NewWriter(path, WriterOptions{MaxSize: 120, MaxFiles: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var running sync.Mutex
	isRunning := true
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(context.Background(), path, ReadOptions{
			Follow:       true,
			PollInterval: 5 * time.Millisecond,
			Running: func() bool {
				running.Lock()
				defer running.Unlock()
				return isRunning
			},
		}, out)
	}()
	var want strings.Builder
	for i := range 20 {
		line := strings.Repeat(string(rune('a'+i)), 30)
		want.WriteString(line + "\n")
		if err := w.WriteEntry(Entry{Stream: Stdout, Message: []byte(line)}); err != nil {
			t.Fatal(err)
		}
		// Let the follower see each file before it rotates away.
		exp := want.String()
		eventually(t, 5*time.Second, func() bool { return out.String() == exp })
	}
	running.Lock()
	isRunning = false
	running.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the writer stopped")
	}
	if out.String() != want.String() {
		t.Fatalf("followed %q", out.String())
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ReadLogs(ctx, path, ReadOptions{Follow: true}, &bytes.Buffer{}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}
