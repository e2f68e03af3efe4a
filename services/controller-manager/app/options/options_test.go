package options

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"unknown controller", func(o *Options) { o.Controllers = []string{"*", "-nope"} }, `unknown controller "-nope"`},
		{"known controllers", func(o *Options) { o.Controllers = []string{"*", "-podgc", "deployment"} }, ""},
		{"workers for unknown", func(o *Options) { o.Workers = map[string]int{"nope": 2} }, `--workers: unknown controller "nope"`},
		{"zero workers", func(o *Options) { o.Workers = map[string]int{"deployment": 0} }, "need at least 1"},
		{"bad cidr", func(o *Options) { o.ClusterCIDR = "10.0.0.0" }, "--cluster-cidr"},
		{"mask too small", func(o *Options) { o.NodeCIDRMaskSize = 8 }, "does not fit"},
		{"renew past lease", func(o *Options) { o.LeaderElectRenew = 20 * time.Second }, "leader election"},
		{"log level", func(o *Options) { o.LogLevel = "loud" }, "--log-level"},
		{"slice size", func(o *Options) { o.MaxEndpointsPerSlice = 0 }, "--max-endpoints-per-slice"},
		{"content type", func(o *Options) { o.KubeAPIContentType = "text/yaml" }, "--kube-api-content-type"},
		{"json", func(o *Options) { o.KubeAPIContentType = "application/json" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New()
			tt.mutate(o)
			errs := o.Validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			all := strings.Join(got, "; ")
			if tt.wantErr == "" && len(errs) > 0 || tt.wantErr != "" && !strings.Contains(all, tt.wantErr) {
				t.Fatalf("got %q, want %q", all, tt.wantErr)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		controllers []string
		name        string
		byDefault   bool
		want        bool
	}{
		{[]string{"*"}, "deployment", true, true},
		{[]string{"*"}, "extra", false, false},
		{[]string{"*", "extra"}, "extra", false, true},
		{[]string{"*", "-deployment"}, "deployment", true, false},
		{[]string{"deployment"}, "replicaset", true, false},
		{[]string{"-deployment", "*"}, "deployment", true, false},
	}
	for _, tt := range tests {
		o := New()
		o.Controllers = tt.controllers
		if got := o.Enabled(tt.name, tt.byDefault); got != tt.want {
			t.Errorf("%v: %s enabled=%v, want %v", tt.controllers, tt.name, got, tt.want)
		}
	}
}
