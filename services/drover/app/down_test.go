package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDown(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetArgs(append([]string{"down"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

func TestDown(t *testing.T) {
	tests := []struct {
		name        string
		files       []string
		purge       bool
		wantErr     string
		wantOut     string
		wantRemoved bool
	}{
		{name: "refuses without --purge", files: []string{"kubeconfig"}, wantErr: "without --purge"},
		{name: "deletes a state dir", files: []string{"kubeconfig", "pki/ca.crt", "etcd/member/snap/db", "logs/apiserver.log", "etcd.url"}, purge: true, wantOut: "deleted ", wantRemoved: true},
		{name: "ignores a stale pid file", files: []string{"drover.pid"}, purge: true, wantOut: "deleted ", wantRemoved: true},
		{name: "refuses a directory with other files", files: []string{"kubeconfig", "thesis.tex"}, purge: true, wantErr: "not a drover state directory"},
		{name: "missing directory", purge: true, wantOut: "nothing to delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			for _, f := range tt.files {
				p := filepath.Join(state, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				// A stale pid file names a process that is not drover and
				// holds no lock on it.
				if err := os.WriteFile(p, []byte("1\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"--state-dir", state}
			if tt.purge {
				args = append(args, "--purge")
			}
			out, err := runDown(t, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("drover down = %v, want error containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("drover down: %v", err)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q lacks %q", out, tt.wantOut)
			}
			_, statErr := os.Stat(state)
			if removed := errors.Is(statErr, os.ErrNotExist); removed != tt.wantRemoved && len(tt.files) > 0 {
				t.Errorf("state dir removed = %v, want %v", removed, tt.wantRemoved)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetArgs([]string{"version"})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "drover ") {
		t.Errorf("version = %q", out.String())
	}
}
