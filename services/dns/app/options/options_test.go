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
		wantErr string // "" for valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"loopback listen and upstreams", func(o *Options) {
			o.Listen = "127.0.0.1:0"
			o.Upstreams = []string{"10.0.0.1", "[fd00::1]:5353"}
		}, ""},
		{"listen without port", func(o *Options) { o.Listen = "127.0.0.1" }, "--listen"},
		{"listen with a host name", func(o *Options) { o.Listen = "localhost:53" }, "--listen"},
		{"bad health address", func(o *Options) { o.HealthAddr = "nowhere" }, "--health-addr"},
		{"bad domain", func(o *Options) { o.ClusterDomain = "a..b" }, "--cluster-domain"},
		{"empty domain", func(o *Options) { o.ClusterDomain = "" }, "--cluster-domain"},
		{"bad upstream", func(o *Options) { o.Upstreams = []string{"dns.google"} }, "--upstream"},
		{"zero timeout", func(o *Options) { o.UpstreamTimeout = 0 }, "--upstream-timeout"},
		{"negative cache", func(o *Options) { o.CacheSize = -1 }, "--cache-size"},
		{"negative ttl cap", func(o *Options) { o.CacheMaxTTL = -time.Second }, "--cache-max-ttl"},
		{"tiny udp size", func(o *Options) { o.MaxUDPSize = 100 }, "--max-udp-size"},
		{"pod mode", func(o *Options) { o.Pods = "sometimes" }, "--pods"},
		{"log level", func(o *Options) { o.LogLevel = "loud" }, "--log-level"},
		{"gc percent", func(o *Options) { o.GCPercent = 5 }, "--gc-percent"},
		{"bus without nats", func(o *Options) { o.Watch.WatchSource = "bus" }, "--nats-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := New()
			tt.mutate(o)
			errs := o.Validate()
			if tt.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tt.wantErr) {
					return
				}
			}
			t.Fatalf("errors %v do not mention %s", errs, tt.wantErr)
		})
	}
}
