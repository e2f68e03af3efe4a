package app

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNetNSExecArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPath string
		wantArgv string
		wantErr  error
	}{
		{name: "program and args", args: []string{"/run/netns/x", "--", "kubelet", "--port=1", "--"}, wantPath: "/run/netns/x", wantArgv: "kubelet --port=1 --"},
		{name: "program only", args: []string{"/run/netns/x", "--", "sh"}, wantPath: "/run/netns/x", wantArgv: "sh"},
		{name: "no separator", args: []string{"/run/netns/x", "sh"}, wantErr: errNetNSExecUsage},
		{name: "no program", args: []string{"/run/netns/x", "--"}, wantErr: errNetNSExecUsage},
		{name: "empty path", args: []string{"", "--", "sh"}, wantErr: errNetNSExecUsage},
		{name: "nothing", wantErr: errNetNSExecUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, argv, err := parseNetNSExecArgs(tt.args)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if path != tt.wantPath || strings.Join(argv, " ") != tt.wantArgv {
				t.Errorf("= %q %q, want %q %q", path, argv, tt.wantPath, tt.wantArgv)
			}
		})
	}
}
