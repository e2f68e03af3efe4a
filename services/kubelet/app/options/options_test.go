package options

import (
	"strings"
	"testing"
)

func TestRateLimitsNeedABurst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(o *Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no api limit", func(o *Options) { o.KubeAPIQPS, o.KubeAPIBurst = -1, 0 }, ""},
		{"api burst 0", func(o *Options) { o.KubeAPIBurst = 0 }, "--kube-api-burst"},
		{"event burst 0", func(o *Options) { o.EventBurst = 0 }, "--event-burst"},
		{"no event limit", func(o *Options) { o.EventQPS, o.EventBurst = -1, 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := New()
			o.NodeName = "n"
			tc.set(o)
			var got []string
			for _, err := range o.Validate() {
				if strings.Contains(err.Error(), "burst") {
					got = append(got, err.Error())
				}
			}
			switch {
			case tc.wantErr == "" && len(got) > 0:
				t.Fatalf("unexpected errors %v", got)
			case tc.wantErr != "" && (len(got) != 1 || !strings.Contains(got[0], tc.wantErr)):
				t.Fatalf("errors %v, want one naming %s", got, tc.wantErr)
			}
		})
	}
}
