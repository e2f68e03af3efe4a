package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckOwned(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		wantErr bool
	}{
		{name: "missing directory"},
		{name: "empty", files: []string{}},
		{name: "drover's files", files: []string{"etcd/member/x", "pki/ca.crt", "kubeconfig", "etcd.url", "logs/apiserver.log", "drover.pid"}},
		{name: "interrupted write", files: []string{"kubeconfig", ".kubeconfig.tmp123"}},
		{name: "a user's file", files: []string{"kubeconfig", "notes.txt"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(filepath.Join(t.TempDir(), "state"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.files != nil {
				if err := d.Create(); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				p := filepath.Join(d.Root, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err = d.CheckOwned()
			if got := errors.Is(err, ErrNotStateDir); got != tt.wantErr {
				t.Errorf("CheckOwned = %v, want ErrNotStateDir %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewMakesPathAbsolute(t *testing.T) {
	d, err := New(".drover")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(d.Root) || filepath.Base(d.Root) != ".drover" {
		t.Errorf("Root = %q", d.Root)
	}
	if got := d.KubeconfigFile(); got != filepath.Join(d.Root, "kubeconfig") {
		t.Errorf("KubeconfigFile = %q", got)
	}
}
