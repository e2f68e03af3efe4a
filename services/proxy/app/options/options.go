// Package options holds drover-proxy's flags and their validation.
package options

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"drover.dev/libs/bus"
)

// Options are the proxy's command-line settings.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// NodeName is this node (--hostname-override, alias --node-name);
	// defaults to the host name.
	NodeName          string
	ClusterCIDR       string
	SyncPeriod        time.Duration
	MinSyncPeriod     time.Duration
	NodePortAddresses []string
	// NodePortLocalhost also accepts NodePorts on 127.0.0.1.
	NodePortLocalhost bool
	HealthAddr        string
	// NetNS, if set, is a network namespace path to program instead of the
	// process's own (local multi-node mode, tests).
	NetNS    string
	Routes   bool
	Cleanup  bool
	LogLevel string
	Watch    bus.WatchOptions
}

// New returns the defaults (kube-proxy's where both have the flag).
func New() *Options {
	return &Options{
		KubeAPIQPS:    50,
		KubeAPIBurst:  100,
		ClusterCIDR:   "10.244.0.0/16",
		SyncPeriod:    30 * time.Second,
		MinSyncPeriod: 0,
		HealthAddr:    "127.0.0.1:10256",
		Routes:        true,
		LogLevel:      "info",
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the apiserver (in-cluster config when empty)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS to the apiserver")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst to the apiserver")
	fs.StringVar(&o.NodeName, "hostname-override", o.NodeName, "name of this node (default: the host name)")
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "alias of --hostname-override")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "pod CIDR(s) of the cluster, comma separated (an IPv6 one enables the ip6 table); traffic from them is never masqueraded to ClusterIPs")
	fs.DurationVar(&o.SyncPeriod, "sync-period", o.SyncPeriod, "interval of full resyncs, which repair any drift in the table")
	fs.DurationVar(&o.MinSyncPeriod, "min-sync-period", o.MinSyncPeriod, "minimum interval between syncs (batches bursts of changes)")
	fs.StringSliceVar(&o.NodePortAddresses, "nodeport-addresses", o.NodePortAddresses, "CIDRs whose local addresses accept NodePorts (default: every local address but loopback); none matching means NodePorts answer nowhere; 127.0.0.0/8 here opts in to localhost")
	fs.BoolVar(&o.NodePortLocalhost, "nodeport-localhost", o.NodePortLocalhost, "also accept NodePorts on 127.0.0.1 (IPv4; sets net.ipv4.conf.all.route_localnet=1 in the node's namespace)")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "address of the /healthz, /readyz, /metrics listener (plain HTTP)")
	fs.StringVar(&o.NetNS, "netns", o.NetNS, "network namespace path to program instead of the process's own")
	fs.BoolVar(&o.Routes, "host-gw-routes", o.Routes, "route other nodes' pod CIDRs via their InternalIP")
	fs.BoolVar(&o.Cleanup, "cleanup", o.Cleanup, "remove the drover nftables tables and host-gw routes, then exit")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	o.Watch.AddFlags(fs)
}

// ClusterCIDRs parses --cluster-cidr.
func (o *Options) ClusterCIDRs() ([]netip.Prefix, error) {
	return parseCIDRs(strings.Split(o.ClusterCIDR, ","))
}

// NodePortCIDRs parses --nodeport-addresses.
func (o *Options) NodePortCIDRs() ([]netip.Prefix, error) { return parseCIDRs(o.NodePortAddresses) }

func parseCIDRs(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Validate reports every invalid setting.
func (o *Options) Validate() []error {
	var errs []error
	if o.Cleanup {
		return nil
	}
	if cs, err := o.ClusterCIDRs(); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-cidr: %w", err))
	} else if len(cs) == 0 {
		errs = append(errs, fmt.Errorf("--cluster-cidr is required"))
	}
	if _, err := o.NodePortCIDRs(); err != nil {
		errs = append(errs, fmt.Errorf("--nodeport-addresses: %w", err))
	}
	if o.SyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--sync-period must be positive"))
	}
	if o.MinSyncPeriod < 0 || o.MinSyncPeriod > o.SyncPeriod {
		errs = append(errs, fmt.Errorf("--min-sync-period must be between 0 and --sync-period"))
	}
	if _, _, err := net.SplitHostPort(o.HealthAddr); err != nil {
		errs = append(errs, fmt.Errorf("--health-addr: %w", err))
	}
	if o.KubeAPIBurst < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must not be negative"))
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", o.LogLevel))
	}
	errs = append(errs, o.Watch.Validate()...)
	return errs
}
