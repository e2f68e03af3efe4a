// Package config turns validated options into what the scheduler runs
// with: the loaded configuration file, a logger and API clients.
// Complete is the only way to get a CompletedConfig.
package config

import (
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"drover.dev/libs/component"
	"drover.dev/scheduler/app/options"
	schedconfig "drover.dev/scheduler/internal/apis/config"
)

// Config is the scheduler's runtime configuration.
type Config struct {
	Options *options.Options
	// RestConfig overrides --kubeconfig (tests).
	RestConfig *rest.Config
	// Logger overrides the one built from --log-level.
	Logger *zap.Logger
}

type completed struct {
	Options        *options.Options
	Scheduler      *schedconfig.Configuration
	RestConfig     *rest.Config
	Client         kubernetes.Interface
	Logger         *zap.Logger
	HealthAddr     string
	LeaderElection component.LeaderElection
}

// CompletedConfig can only come from Complete.
type CompletedConfig struct{ *completed }

// Complete validates options, loads the file and builds the clients.
func (c *Config) Complete() (CompletedConfig, error) {
	o := c.Options
	if errs := o.Validate(); len(errs) > 0 {
		return CompletedConfig{}, errors.Join(errs...)
	}
	sc, err := schedconfig.Load(o.ConfigFile)
	if err != nil {
		return CompletedConfig{}, err
	}
	lg := c.Logger
	if lg == nil {
		if lg, err = component.NewLogger(o.LogLevel); err != nil {
			return CompletedConfig{}, err
		}
	}
	rc := c.RestConfig
	if rc == nil {
		if rc, err = component.RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst, "drover-scheduler"); err != nil {
			return CompletedConfig{}, err
		}
	} else {
		rc = rest.CopyConfig(rc)
		rc.QPS, rc.Burst = o.KubeAPIQPS, o.KubeAPIBurst
		rc.UserAgent = "drover-scheduler"
	}
	if o.KubeAPIContentType != "" {
		rc.ContentType = o.KubeAPIContentType
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: client: %w", err)
	}
	return CompletedConfig{&completed{
		Options:    o,
		Scheduler:  sc,
		RestConfig: rc,
		Client:     cs,
		Logger:     lg,
		HealthAddr: o.BindAddress + ":" + strconv.Itoa(o.SecurePort),
		LeaderElection: component.LeaderElection{
			Enabled:       o.LeaderElect,
			Namespace:     o.LeaderElectResourceNamespace,
			Name:          o.LeaderElectResourceName,
			LeaseDuration: o.LeaderElectLeaseDuration,
			RenewDeadline: o.LeaderElectRenewDeadline,
			RetryPeriod:   o.LeaderElectRetryPeriod,
		},
	}}, nil
}
