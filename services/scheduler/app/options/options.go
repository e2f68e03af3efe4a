// Package options holds drover-scheduler's flags and their validation.
package options

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"

	"drover.dev/libs/bus"
)

// Options are the scheduler's command-line settings.
type Options struct {
	Kubeconfig string
	ConfigFile string
	// BindAddress and SecurePort are the health/metrics listener (plain
	// HTTP; loopback by default).
	BindAddress  string
	SecurePort   int
	KubeAPIQPS   float32
	KubeAPIBurst int
	// KubeAPIContentType is the client's request/response content type.
	KubeAPIContentType string

	LeaderElect                  bool
	LeaderElectLeaseDuration     time.Duration
	LeaderElectRenewDeadline     time.Duration
	LeaderElectRetryPeriod       time.Duration
	LeaderElectResourceName      string
	LeaderElectResourceNamespace string

	Watch    bus.WatchOptions
	LogLevel string
}

// New returns the defaults, which match kube-scheduler's where both have the flag.
func New() *Options {
	return &Options{
		BindAddress:                  "127.0.0.1",
		SecurePort:                   10259,
		KubeAPIQPS:                   50,
		KubeAPIBurst:                 100,
		KubeAPIContentType:           "application/vnd.kubernetes.protobuf",
		LeaderElect:                  true,
		LeaderElectLeaseDuration:     15 * time.Second,
		LeaderElectRenewDeadline:     10 * time.Second,
		LeaderElectRetryPeriod:       2 * time.Second,
		LeaderElectResourceName:      "drover-scheduler",
		LeaderElectResourceNamespace: "kube-system",
		LogLevel:                     "info",
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the apiserver (in-cluster config when empty)")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile, "scheduler configuration file (KubeSchedulerConfiguration YAML: profiles, plugins, weights, percentageOfNodesToScore)")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "IP address of the /healthz, /readyz, /metrics listener (plain HTTP)")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "port of the /healthz, /readyz, /metrics listener (0 picks a free port)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS to the apiserver (negative: no client-side limit)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst to the apiserver")
	fs.StringVar(&o.KubeAPIContentType, "kube-api-content-type", o.KubeAPIContentType, "content type of requests sent to the apiserver")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader on a Lease so that only one replica schedules")
	fs.DurationVar(&o.LeaderElectLeaseDuration, "leader-elect-lease-duration", o.LeaderElectLeaseDuration, "how long a lease is valid without renewal")
	fs.DurationVar(&o.LeaderElectRenewDeadline, "leader-elect-renew-deadline", o.LeaderElectRenewDeadline, "how long the leader retries renewing before giving up")
	fs.DurationVar(&o.LeaderElectRetryPeriod, "leader-elect-retry-period", o.LeaderElectRetryPeriod, "interval between acquire/renew attempts")
	fs.StringVar(&o.LeaderElectResourceName, "leader-elect-resource-name", o.LeaderElectResourceName, "name of the Lease")
	fs.StringVar(&o.LeaderElectResourceNamespace, "leader-elect-resource-namespace", o.LeaderElectResourceNamespace, "namespace of the Lease")
	o.Watch.AddFlags(fs)
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
}

// Validate reports every invalid setting.
func (o *Options) Validate() []error {
	var errs []error
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if o.SecurePort < 0 || o.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d is out of range", o.SecurePort))
	}
	if o.KubeAPIBurst < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must not be negative"))
	}
	if o.KubeAPIQPS > 0 && o.KubeAPIBurst == 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must be positive when --kube-api-qps is"))
	}
	if o.LeaderElect {
		if o.LeaderElectLeaseDuration <= o.LeaderElectRenewDeadline {
			errs = append(errs, fmt.Errorf("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline"))
		}
		if o.LeaderElectRenewDeadline <= o.LeaderElectRetryPeriod {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline must be greater than --leader-elect-retry-period"))
		}
		if o.LeaderElectResourceName == "" || o.LeaderElectResourceNamespace == "" {
			errs = append(errs, fmt.Errorf("--leader-elect-resource-name and --leader-elect-resource-namespace are required"))
		}
	}
	errs = append(errs, o.Watch.Validate()...)
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", o.LogLevel))
	}
	return errs
}
