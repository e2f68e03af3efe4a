package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr bool
		check   func(t *testing.T, c *Configuration)
	}{
		{name: "empty file: defaults", yaml: "", check: func(t *testing.T, c *Configuration) {
			if len(c.Profiles) != 1 || c.Profiles[0].SchedulerName != DefaultSchedulerName || *c.PercentageOfNodesToScore != 0 || c.PodMaxBackoffSeconds != 10 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "profiles and plugins", yaml: `
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    score:
      enabled:
      - name: NodeResourcesFit
        weight: 5
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
`, check: func(t *testing.T, c *Configuration) {
			if len(c.Profiles) != 2 || *c.PercentageOfNodesToScore != 30 {
				t.Fatalf("%+v", c)
			}
			p := c.Profiles[1]
			if p.Plugins.Score.Enabled[0].Weight != 5 || string(p.PluginConfig[0].Args) != `{"scoringStrategy":{"type":"MostAllocated"}}` {
				t.Fatalf("%+v", p)
			}
		}},
		{name: "unknown field", yaml: "bogus: 1", wantErr: true},
		{name: "bad percentage", yaml: "percentageOfNodesToScore: 101", wantErr: true},
		{name: "duplicate profile", yaml: "profiles: [{schedulerName: a}, {schedulerName: a}]", wantErr: true},
		{name: "wrong kind", yaml: "kind: Pod", wantErr: true},
		{name: "backoff order", yaml: "podInitialBackoffSeconds: 20\npodMaxBackoffSeconds: 10", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	if _, err := Load(""); err != nil {
		t.Fatal(err)
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing"))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v", err)
	}
}
