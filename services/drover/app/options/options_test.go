package options

import (
	"strings"
	"testing"
)

func TestUpOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*UpOptions)
		wantErr []string
	}{
		{name: "defaults", mutate: func(*UpOptions) {}},
		{name: "IPv6 bind address", mutate: func(o *UpOptions) { o.BindAddress = "::1" }},
		{name: "host name as bind address", mutate: func(o *UpOptions) { o.BindAddress = "localhost" }, wantErr: []string{"not an IP address"}},
		{name: "replicas overflow the port range", mutate: func(o *UpOptions) { o.APIServerPort = 65535; o.APIServerReplicas = 2 }, wantErr: []string{"no room for 2 replicas"}},
		{name: "etcd port among apiserver ports", mutate: func(o *UpOptions) { o.APIServerReplicas = 3; o.EtcdPort = 6445 }, wantErr: []string{"--etcd-port 6445 is also an apiserver port"}},
		{name: "external etcd ignores etcd ports", mutate: func(o *UpOptions) {
			o.EtcdServers = []string{"https://10.0.0.1:2379", "http://127.0.0.1:2379"}
			o.EtcdPort, o.EtcdPeerPort = 0, 0
		}},
		{name: "every problem at once", mutate: func(o *UpOptions) {
			o.StateDir = ""
			o.APIServerReplicas = 0
			o.EtcdServers = []string{"etcd:2379"}
		}, wantErr: []string{"--state-dir", "at least 1", "not an http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewUpOptions()
			tt.mutate(o)
			errs := o.Validate()
			if len(errs) != len(tt.wantErr) {
				t.Fatalf("Validate = %v, want %d errors", errs, len(tt.wantErr))
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], want)
				}
			}
		})
	}
}
