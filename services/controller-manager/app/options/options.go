// Package options holds drover-controller-manager's flags and their validation.
package options

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"drover.dev/libs/bus"

	"drover.dev/controller-manager/internal/controllers"
)

// Options are the controller-manager's settings, one field per flag.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// KubeAPIContentType is the typed client's wire format.
	KubeAPIContentType string
	BindAddress        string
	Port               int
	LogLevel           string
	Watch              bus.WatchOptions
	// GCPercent is the Go heap growth allowed between collections.
	GCPercent int

	// Controllers lists controllers to run: "*" for the default set, "name"
	// to add one, "-name" to remove one.
	Controllers []string
	// Workers overrides per-controller worker counts (name=N).
	Workers map[string]int

	LeaderElect            bool
	LeaderElectNamespace   string
	LeaderElectName        string
	LeaderElectLease       time.Duration
	LeaderElectRenew       time.Duration
	LeaderElectRetryPeriod time.Duration

	ClusterCIDR       string
	NodeCIDRMaskSize  int
	AllocateNodeCIDRs bool

	NodeMonitorPeriod                   time.Duration
	NodeMonitorGracePeriod              time.Duration
	NodeStartupGracePeriod              time.Duration
	NodeEvictionRate                    float32
	SecondaryNodeEvictionRate           float32
	LargeClusterSizeThreshold           int
	UnhealthyZoneThreshold              float32
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64

	TerminatedPodGCThreshold int
	PodGCPeriod              time.Duration
	MaxEndpointsPerSlice     int
}

// New returns the defaults, which match kube-controller-manager's.
func New() *Options {
	return &Options{
		KubeAPIQPS:                          100,
		KubeAPIBurst:                        200,
		KubeAPIContentType:                  "application/vnd.kubernetes.protobuf",
		BindAddress:                         "127.0.0.1",
		Port:                                10257,
		LogLevel:                            "info",
		GCPercent:                           50,
		Controllers:                         []string{"*"},
		Workers:                             map[string]int{},
		LeaderElect:                         true,
		LeaderElectNamespace:                "kube-system",
		LeaderElectName:                     "drover-controller-manager",
		LeaderElectLease:                    15 * time.Second,
		LeaderElectRenew:                    10 * time.Second,
		LeaderElectRetryPeriod:              2 * time.Second,
		ClusterCIDR:                         "10.244.0.0/16",
		NodeCIDRMaskSize:                    24,
		AllocateNodeCIDRs:                   true,
		NodeMonitorPeriod:                   5 * time.Second,
		NodeMonitorGracePeriod:              40 * time.Second,
		NodeStartupGracePeriod:              60 * time.Second,
		NodeEvictionRate:                    0.1,
		SecondaryNodeEvictionRate:           0.01,
		LargeClusterSizeThreshold:           50,
		UnhealthyZoneThreshold:              0.55,
		DefaultNotReadyTolerationSeconds:    300,
		DefaultUnreachableTolerationSeconds: 300,
		TerminatedPodGCThreshold:            12500,
		PodGCPeriod:                         20 * time.Second,
		MaxEndpointsPerSlice:                100,
	}
}

// AddFlags registers the flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	known := controllers.Names()
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the apiserver (in-cluster config when empty)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client-side QPS limit towards the apiserver")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client-side burst towards the apiserver")
	fs.StringVar(&o.KubeAPIContentType, "kube-api-content-type", o.KubeAPIContentType, "content type of requests to the apiserver (protobuf decodes watch events far cheaper than JSON)")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "IP address of the /healthz /readyz /metrics listener (plain HTTP)")
	fs.IntVar(&o.Port, "port", o.Port, "port of the /healthz /readyz /metrics listener (0 picks a free one)")
	o.Watch.AddFlags(fs)
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.IntVar(&o.GCPercent, "gc-percent", o.GCPercent, "Go heap growth between collections in percent (as GOGC, which overrides it when set); lower trades CPU for memory")
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers, fmt.Sprintf(
		"controllers to run: '*' runs the defaults, 'foo' adds one, '-foo' removes one; known: %s", strings.Join(known, ", ")))
	fs.StringToIntVar(&o.Workers, "workers", o.Workers, "worker goroutines per controller, e.g. deployment=10,replicaset=10")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader through a Lease so that several replicas are safe")
	fs.StringVar(&o.LeaderElectNamespace, "leader-elect-resource-namespace", o.LeaderElectNamespace, "namespace of the leader election Lease")
	fs.StringVar(&o.LeaderElectName, "leader-elect-resource-name", o.LeaderElectName, "name of the leader election Lease")
	fs.DurationVar(&o.LeaderElectLease, "leader-elect-lease-duration", o.LeaderElectLease, "how long a non-renewed leadership lasts")
	fs.DurationVar(&o.LeaderElectRenew, "leader-elect-renew-deadline", o.LeaderElectRenew, "how long the leader tries to renew before giving up")
	fs.DurationVar(&o.LeaderElectRetryPeriod, "leader-elect-retry-period", o.LeaderElectRetryPeriod, "wait between leader election attempts")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "CIDR from which node pod CIDRs are allocated")
	fs.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", o.NodeCIDRMaskSize, "prefix length of each node's pod CIDR")
	fs.BoolVar(&o.AllocateNodeCIDRs, "allocate-node-cidrs", o.AllocateNodeCIDRs, "whether the nodeipam controller assigns pod CIDRs")
	fs.DurationVar(&o.NodeMonitorPeriod, "node-monitor-period", o.NodeMonitorPeriod, "how often node health is checked")
	fs.DurationVar(&o.NodeMonitorGracePeriod, "node-monitor-grace-period", o.NodeMonitorGracePeriod, "how long a node may not renew its lease before it is marked Ready=Unknown")
	fs.DurationVar(&o.NodeStartupGracePeriod, "node-startup-grace-period", o.NodeStartupGracePeriod, "how long a new node may take to report before it is marked Ready=Unknown")
	fs.Float32Var(&o.NodeEvictionRate, "node-eviction-rate", o.NodeEvictionRate, "nodes per second tainted NoExecute when a zone is healthy")
	fs.Float32Var(&o.SecondaryNodeEvictionRate, "secondary-node-eviction-rate", o.SecondaryNodeEvictionRate, "nodes per second tainted NoExecute when a large zone is unhealthy")
	fs.IntVar(&o.LargeClusterSizeThreshold, "large-cluster-size-threshold", o.LargeClusterSizeThreshold, "zones with more nodes than this use the secondary rate when unhealthy; smaller ones stop tainting")
	fs.Float32Var(&o.UnhealthyZoneThreshold, "unhealthy-zone-threshold", o.UnhealthyZoneThreshold, "fraction of not-ready nodes that makes a zone unhealthy")
	fs.Int64Var(&o.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", o.DefaultNotReadyTolerationSeconds, "tolerationSeconds for node.kubernetes.io/not-ready:NoExecute of pods that do not set one")
	fs.Int64Var(&o.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", o.DefaultUnreachableTolerationSeconds, "tolerationSeconds for node.kubernetes.io/unreachable:NoExecute of pods that do not set one")
	fs.IntVar(&o.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", o.TerminatedPodGCThreshold, "terminated pods kept before the oldest are deleted (0 disables)")
	fs.DurationVar(&o.PodGCPeriod, "pod-gc-period", o.PodGCPeriod, "how often pod GC runs")
	fs.IntVar(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", o.MaxEndpointsPerSlice, "endpoints per EndpointSlice")
}

// Validate checks the options, controller names against the descriptor table.
func (o *Options) Validate() []error {
	known := controllers.Names()
	var errs []error
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is out of range", o.Port))
	}
	switch o.KubeAPIContentType {
	case "application/vnd.kubernetes.protobuf", "application/json":
	default:
		errs = append(errs, fmt.Errorf("--kube-api-content-type %q is not application/vnd.kubernetes.protobuf or application/json", o.KubeAPIContentType))
	}
	errs = append(errs, o.Watch.Validate()...)
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", o.LogLevel))
	}
	for _, c := range o.Controllers {
		name := strings.TrimPrefix(c, "-")
		if c != "*" && !slices.Contains(known, name) {
			errs = append(errs, fmt.Errorf("--controllers: unknown controller %q", c))
		}
	}
	for name, n := range o.Workers {
		if !slices.Contains(known, name) {
			errs = append(errs, fmt.Errorf("--workers: unknown controller %q", name))
		} else if n < 1 {
			errs = append(errs, fmt.Errorf("--workers: %s=%d, need at least 1", name, n))
		}
	}
	if o.LeaderElect && (o.LeaderElectRenew >= o.LeaderElectLease || o.LeaderElectRetryPeriod <= 0) {
		errs = append(errs, fmt.Errorf("leader election: need retry-period > 0 and renew-deadline < lease-duration"))
	}
	_, cidr, err := net.ParseCIDR(o.ClusterCIDR)
	if err != nil {
		errs = append(errs, fmt.Errorf("--cluster-cidr: %v", err))
	} else if ones, bits := cidr.Mask.Size(); o.NodeCIDRMaskSize < ones || o.NodeCIDRMaskSize > bits || o.NodeCIDRMaskSize-ones > 16 {
		errs = append(errs, fmt.Errorf("--node-cidr-mask-size %d does not fit --cluster-cidr %s (at most 65536 node CIDRs)", o.NodeCIDRMaskSize, o.ClusterCIDR))
	}
	if o.NodeMonitorPeriod <= 0 || o.NodeMonitorGracePeriod <= 0 || o.NodeStartupGracePeriod <= 0 || o.PodGCPeriod <= 0 {
		errs = append(errs, fmt.Errorf("node monitor and pod GC periods must be positive"))
	}
	if o.NodeEvictionRate < 0 || o.SecondaryNodeEvictionRate < 0 {
		errs = append(errs, fmt.Errorf("eviction rates must not be negative"))
	}
	if o.UnhealthyZoneThreshold <= 0 || o.UnhealthyZoneThreshold > 1 {
		errs = append(errs, fmt.Errorf("--unhealthy-zone-threshold must be in (0, 1]"))
	}
	if o.DefaultNotReadyTolerationSeconds < 0 || o.DefaultUnreachableTolerationSeconds < 0 {
		errs = append(errs, fmt.Errorf("default toleration seconds must not be negative"))
	}
	if o.GCPercent < 10 {
		errs = append(errs, fmt.Errorf("--gc-percent must be at least 10"))
	}
	if o.TerminatedPodGCThreshold < 0 {
		errs = append(errs, fmt.Errorf("--terminated-pod-gc-threshold must not be negative"))
	}
	if o.MaxEndpointsPerSlice < 1 || o.MaxEndpointsPerSlice > 1000 {
		errs = append(errs, fmt.Errorf("--max-endpoints-per-slice must be in [1, 1000]"))
	}
	return errs
}

// Enabled resolves --controllers against the known names and whether each
// runs by default.
func (o *Options) Enabled(name string, byDefault bool) bool {
	enabled := false
	for _, c := range o.Controllers {
		switch {
		case c == name:
			return true
		case c == "-"+name:
			return false
		case c == "*":
			enabled = byDefault
		}
	}
	return enabled
}
