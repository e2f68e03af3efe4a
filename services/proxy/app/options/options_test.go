package options

import (
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Options)
		bad  bool
	}{
		{"defaults", func(*Options) {}, false},
		{"dual-stack", func(o *Options) { o.ClusterCIDR = "10.244.0.0/16,fd00:10:244::/56" }, false},
		{"bad cidr", func(o *Options) { o.ClusterCIDR = "10.244.0.0" }, true},
		{"empty cidr", func(o *Options) { o.ClusterCIDR = "" }, true},
		{"bad nodeport cidr", func(o *Options) { o.NodePortAddresses = []string{"x"} }, true},
		{"zero sync period", func(o *Options) { o.SyncPeriod = 0 }, true},
		{"min above sync", func(o *Options) { o.MinSyncPeriod = time.Hour }, true},
		{"bad health addr", func(o *Options) { o.HealthAddr = "nope" }, true},
		{"bad log level", func(o *Options) { o.LogLevel = "loud" }, true},
		{"bus without url", func(o *Options) { o.Watch.WatchSource = "bus" }, true},
		{"cleanup skips checks", func(o *Options) { o.Cleanup = true; o.ClusterCIDR = "x" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New()
			tt.mut(o)
			if errs := o.Validate(); (len(errs) > 0) != tt.bad {
				t.Fatalf("errors %v, want bad=%v", errs, tt.bad)
			}
		})
	}
}
