// Package config turns validated options into what drover-proxy runs with.
// Complete is the only way to get a CompletedConfig.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"drover.dev/libs/component"
	"drover.dev/proxy/app/options"
)

// Config is the proxy's runtime configuration.
type Config struct {
	Options *options.Options
	// RestConfig overrides --kubeconfig (tests).
	RestConfig *rest.Config
	// Logger overrides the one built from --log-level.
	Logger *zap.Logger
}

type completed struct {
	Options       *options.Options
	Client        kubernetes.Interface
	Logger        *zap.Logger
	NodeName      string
	ClusterCIDRs  []netip.Prefix
	NodePortCIDRs []netip.Prefix
}

// CompletedConfig can only come from Complete.
type CompletedConfig struct{ *completed }

// Complete validates options and builds the client (none for --cleanup).
func (c *Config) Complete() (CompletedConfig, error) {
	o := c.Options
	if errs := o.Validate(); len(errs) > 0 {
		return CompletedConfig{}, errors.Join(errs...)
	}
	lg := c.Logger
	var err error
	if lg == nil {
		if lg, err = component.NewLogger(o.LogLevel); err != nil {
			return CompletedConfig{}, err
		}
	}
	cc := &completed{Options: o, Logger: lg, NodeName: o.NodeName}
	if o.Cleanup {
		return CompletedConfig{cc}, nil
	}
	if cc.NodeName == "" {
		if cc.NodeName, err = os.Hostname(); err != nil {
			return CompletedConfig{}, fmt.Errorf("config: node name: %w", err)
		}
	}
	cc.ClusterCIDRs, _ = o.ClusterCIDRs()
	cc.NodePortCIDRs, _ = o.NodePortCIDRs()
	rc := c.RestConfig
	if rc == nil {
		if rc, err = component.RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst, "drover-proxy"); err != nil {
			return CompletedConfig{}, err
		}
	} else {
		rc = rest.CopyConfig(rc)
		rc.QPS, rc.Burst = o.KubeAPIQPS, o.KubeAPIBurst
		rc.UserAgent = "drover-proxy"
	}
	if cc.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return CompletedConfig{}, fmt.Errorf("config: client: %w", err)
	}
	return CompletedConfig{cc}, nil
}
