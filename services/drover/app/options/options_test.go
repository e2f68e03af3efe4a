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
		{name: "three nodes", mutate: func(o *UpOptions) { o.Nodes = 3 }},
		{name: "no nodes", mutate: func(o *UpOptions) { o.Nodes = 0 }, wantErr: []string{"--nodes must be at least 1"}},
		{name: "node network not IPv4", mutate: func(o *UpOptions) { o.Nodes = 2; o.NodeNetwork = "fd00::/64" }, wantErr: []string{"not an IPv4 CIDR"}},
		{name: "node network too small", mutate: func(o *UpOptions) { o.Nodes = 6; o.NodeNetwork = "172.31.0.0/29" }, wantErr: []string{"no room for 6 nodes"}},
		{name: "node network just big enough", mutate: func(o *UpOptions) { o.Nodes = 5; o.NodeNetwork = "172.31.0.0/29" }},
		{name: "bridge name too long", mutate: func(o *UpOptions) { o.Nodes = 2; o.Bridge = "averylongname" }, wantErr: []string{"--bridge"}},
		{name: "one node ignores the node network", mutate: func(o *UpOptions) { o.NodeNetwork = "nonsense" }},
		{name: "daemon arg", mutate: func(o *UpOptions) {
			o.DaemonArgs = []string{"controller-manager=--node-monitor-grace-period=15s", "kubelet=--max-pods=20"}
		}},
		{name: "daemon arg of an unknown daemon", mutate: func(o *UpOptions) { o.DaemonArgs = []string{"etcd=--quota=1"} }, wantErr: []string{"--daemon-arg"}},
		{name: "daemon arg without a flag", mutate: func(o *UpOptions) { o.DaemonArgs = []string{"scheduler"} }, wantErr: []string{"--daemon-arg"}},
		{name: "unknown component", mutate: func(o *UpOptions) { o.Components = []string{"apiserver", "coredns"} }, wantErr: []string{"unknown component"}},
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

func TestExtraArgs(t *testing.T) {
	o := NewUpOptions()
	o.DaemonArgs = []string{"kubelet=--max-pods=20", "proxy=--sync-period=5s", "kubelet=--v=2=x"}
	got := o.ExtraArgs("kubelet")
	want := []string{"--max-pods=20", "--v=2=x"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ExtraArgs(kubelet) = %q, want %q", got, want)
	}
	if got := o.ExtraArgs("scheduler"); len(got) != 0 {
		t.Errorf("ExtraArgs(scheduler) = %q, want none", got)
	}
}
