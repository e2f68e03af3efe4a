package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"drover.dev/dns/app/options"
)

func TestUpstreams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		flags      []string
		resolvConf string
		want       []string
		wantErr    error
	}{
		{"flags win", []string{"10.0.0.1", "10.0.0.2:5353"}, write("a", "nameserver 9.9.9.9\n"), []string{"10.0.0.1:53", "10.0.0.2:5353"}, nil},
		{"resolv.conf", nil, write("b", "search x\nnameserver 10.255.255.53\nnameserver fd00::53\noptions ndots:5\n"), []string{"10.255.255.53:53", "[fd00::53]:53"}, nil},
		{"resolv.conf without servers", nil, write("c", "search x\n"), nil, ErrNoUpstream},
		{"missing resolv.conf", nil, filepath.Join(dir, "none"), nil, ErrNoUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options.New()
			o.Upstreams, o.ResolvConf = tt.flags, tt.resolvConf
			got, err := upstreams(o)
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
