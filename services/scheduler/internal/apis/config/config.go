// Package config is the scheduler's configuration file: a subset of
// Kubernetes' KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1)
// with the same field names, so existing files mostly carry over.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// DefaultSchedulerName is the profile that serves pods without a schedulerName.
const DefaultSchedulerName = "default-scheduler"

// Defaults as in Kubernetes.
const (
	DefaultPercentageOfNodesToScore = 0 // adaptive
	DefaultPodInitialBackoffSeconds = 1
	DefaultPodMaxBackoffSeconds     = 10
	DefaultParallelism              = 16
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("config: invalid scheduler configuration")

// Configuration is the file's top level.
type Configuration struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// PercentageOfNodesToScore: 0 means adaptive (50% minus 1% per 125
	// nodes, at least 5%), never fewer than 100 nodes.
	PercentageOfNodesToScore *int32 `json:"percentageOfNodesToScore,omitempty"`
	PodInitialBackoffSeconds int64  `json:"podInitialBackoffSeconds,omitempty"`
	PodMaxBackoffSeconds     int64  `json:"podMaxBackoffSeconds,omitempty"`
	// Parallelism bounds the goroutines filtering and scoring nodes.
	Parallelism int32     `json:"parallelism,omitempty"`
	Profiles    []Profile `json:"profiles,omitempty"`
}

// Profile is one scheduler name with its plugins.
type Profile struct {
	SchedulerName            string         `json:"schedulerName,omitempty"`
	PercentageOfNodesToScore *int32         `json:"percentageOfNodesToScore,omitempty"`
	Plugins                  *Plugins       `json:"plugins,omitempty"`
	PluginConfig             []PluginConfig `json:"pluginConfig,omitempty"`
}

// Plugins are the per-extension-point changes to the default set.
type Plugins struct {
	MultiPoint PluginSet `json:"multiPoint,omitempty"`
	PreFilter  PluginSet `json:"preFilter,omitempty"`
	Filter     PluginSet `json:"filter,omitempty"`
	PostFilter PluginSet `json:"postFilter,omitempty"`
	PreScore   PluginSet `json:"preScore,omitempty"`
	Score      PluginSet `json:"score,omitempty"`
	Reserve    PluginSet `json:"reserve,omitempty"`
	Permit     PluginSet `json:"permit,omitempty"`
	PreBind    PluginSet `json:"preBind,omitempty"`
	Bind       PluginSet `json:"bind,omitempty"`
}

// PluginSet enables and disables plugins; "*" in disabled removes all
// defaults of that point.
type PluginSet struct {
	Enabled  []Plugin `json:"enabled,omitempty"`
	Disabled []Plugin `json:"disabled,omitempty"`
}

// Plugin names a plugin and, for Score, its weight.
type Plugin struct {
	Name   string `json:"name"`
	Weight int32  `json:"weight,omitempty"`
}

// PluginConfig passes args to one plugin.
type PluginConfig struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Load reads, defaults and validates a file; an empty path gives the defaults.
func Load(path string) (*Configuration, error) {
	c := &Configuration{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := Decode(data, c); err != nil {
			return nil, err
		}
	}
	SetDefaults(c)
	if errs := Validate(c); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Decode strictly decodes YAML or JSON.
func Decode(data []byte, c *Configuration) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// SetDefaults fills unset fields.
func SetDefaults(c *Configuration) {
	if c.PercentageOfNodesToScore == nil {
		v := int32(DefaultPercentageOfNodesToScore)
		c.PercentageOfNodesToScore = &v
	}
	if c.PodInitialBackoffSeconds == 0 {
		c.PodInitialBackoffSeconds = DefaultPodInitialBackoffSeconds
	}
	if c.PodMaxBackoffSeconds == 0 {
		c.PodMaxBackoffSeconds = DefaultPodMaxBackoffSeconds
	}
	if c.Parallelism == 0 {
		c.Parallelism = DefaultParallelism
	}
	if len(c.Profiles) == 0 {
		c.Profiles = []Profile{{}}
	}
	for i := range c.Profiles {
		if c.Profiles[i].SchedulerName == "" {
			c.Profiles[i].SchedulerName = DefaultSchedulerName
		}
	}
}

// Validate reports every problem.
func Validate(c *Configuration) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if c.APIVersion != "" && c.APIVersion != "kubescheduler.config.k8s.io/v1" {
		bad("apiVersion %q is not kubescheduler.config.k8s.io/v1", c.APIVersion)
	}
	if c.Kind != "" && c.Kind != "KubeSchedulerConfiguration" {
		bad("kind %q is not KubeSchedulerConfiguration", c.Kind)
	}
	checkPct := func(field string, p *int32) {
		if p != nil && (*p < 0 || *p > 100) {
			bad("%s %d is not in [0, 100]", field, *p)
		}
	}
	checkPct("percentageOfNodesToScore", c.PercentageOfNodesToScore)
	if c.PodInitialBackoffSeconds <= 0 {
		bad("podInitialBackoffSeconds must be positive")
	}
	if c.PodMaxBackoffSeconds < c.PodInitialBackoffSeconds {
		bad("podMaxBackoffSeconds must be at least podInitialBackoffSeconds")
	}
	if c.Parallelism <= 0 {
		bad("parallelism must be positive")
	}
	seen := map[string]bool{}
	for i, p := range c.Profiles {
		if seen[p.SchedulerName] {
			bad("profiles[%d]: duplicate schedulerName %q", i, p.SchedulerName)
		}
		seen[p.SchedulerName] = true
		checkPct(fmt.Sprintf("profiles[%d].percentageOfNodesToScore", i), p.PercentageOfNodesToScore)
		args := map[string]bool{}
		for _, pc := range p.PluginConfig {
			if args[pc.Name] {
				bad("profiles[%d]: duplicate pluginConfig for %q", i, pc.Name)
			}
			args[pc.Name] = true
		}
		if p.Plugins != nil {
			for _, e := range p.Plugins.Score.Enabled {
				if e.Weight < 0 || e.Weight > 100 {
					bad("profiles[%d]: score weight of %q must be in [0, 100]", i, e.Name)
				}
			}
		}
	}
	return errs
}
