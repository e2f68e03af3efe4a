// Package config turns validated options into the clients and settings the
// controller-manager runs with.
package config

import (
	"fmt"
	"net"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"drover.dev/controller-manager/app/options"
	"drover.dev/controller-manager/internal/controllers"
	"drover.dev/libs/component"
)

// UserAgent identifies the controller-manager to the apiserver.
const UserAgent = "drover-controller-manager"

// Config is the controller-manager's configuration before completion.
type Config struct {
	Options *options.Options
	Logger  *zap.Logger
	// Rest reaches the apiserver; New builds it from --kubeconfig.
	Rest *rest.Config
	// OnListen, when set, is told the health listener's address.
	OnListen func(net.Addr)
}

// New builds a Config from validated options.
func New(o *options.Options) (*Config, error) {
	lg, err := component.NewLogger(o.LogLevel)
	if err != nil {
		return nil, err
	}
	// client-go logs through klog; send it to the same structured log.
	klog.SetLogger(zapr.NewLogger(lg.With(zap.String("source", "client-go"))))
	rc, err := component.RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst, UserAgent)
	if err != nil {
		return nil, err
	}
	return &Config{Options: o, Logger: lg, Rest: rc}, nil
}

type completedConfig struct {
	*Config
	Client   kubernetes.Interface
	Metadata metadata.Interface
	Settings controllers.Settings
	Leader   component.LeaderElection
}

// CompletedConfig can only be made by Complete.
type CompletedConfig struct{ *completedConfig }

// Complete makes the clients.
func (c *Config) Complete() (CompletedConfig, error) {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	rc := rest.CopyConfig(c.Rest)
	if rc.UserAgent == "" {
		rc.UserAgent = UserAgent
	}
	typed := rest.CopyConfig(rc)
	if c.Options.KubeAPIContentType != "" {
		typed.ContentType = c.Options.KubeAPIContentType
	}
	cs, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: clientset: %w", err)
	}
	md, err := metadata.NewForConfig(rc)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: metadata client: %w", err)
	}
	o := c.Options
	_, cidr, err := net.ParseCIDR(o.ClusterCIDR)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: --cluster-cidr: %w", err)
	}
	le := component.DefaultLeaderElection(o.LeaderElectName)
	le.Enabled = o.LeaderElect
	le.Namespace = o.LeaderElectNamespace
	le.LeaseDuration, le.RenewDeadline, le.RetryPeriod = o.LeaderElectLease, o.LeaderElectRenew, o.LeaderElectRetryPeriod
	return CompletedConfig{&completedConfig{
		Config: c, Client: cs, Metadata: md, Leader: le,
		Settings: controllers.Settings{
			ClusterCIDR:                         cidr,
			NodeCIDRMaskSize:                    o.NodeCIDRMaskSize,
			AllocateNodeCIDRs:                   o.AllocateNodeCIDRs,
			NodeMonitorPeriod:                   o.NodeMonitorPeriod,
			NodeMonitorGracePeriod:              o.NodeMonitorGracePeriod,
			NodeStartupGracePeriod:              o.NodeStartupGracePeriod,
			NodeEvictionRate:                    o.NodeEvictionRate,
			SecondaryNodeEvictionRate:           o.SecondaryNodeEvictionRate,
			LargeClusterSizeThreshold:           o.LargeClusterSizeThreshold,
			UnhealthyZoneThreshold:              o.UnhealthyZoneThreshold,
			DefaultNotReadyTolerationSeconds:    o.DefaultNotReadyTolerationSeconds,
			DefaultUnreachableTolerationSeconds: o.DefaultUnreachableTolerationSeconds,
			TerminatedPodGCThreshold:            o.TerminatedPodGCThreshold,
			PodGCPeriod:                         o.PodGCPeriod,
			MaxEndpointsPerSlice:                o.MaxEndpointsPerSlice,
		},
	}}, nil
}
