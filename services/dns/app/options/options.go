// Package options holds drover-dns' flags and their validation.
package options

import (
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	"drover.dev/dns/internal/forward"
	"drover.dev/dns/internal/zone"
	"drover.dev/libs/bus"
)

// Options are drover-dns' command-line settings.
type Options struct {
	Kubeconfig   string
	KubeAPIQPS   float32
	KubeAPIBurst int
	// Listen is the DNS address (UDP and TCP).
	Listen        string
	ClusterDomain string
	// Upstreams are forwarding servers; empty means ResolvConf's.
	Upstreams        []string
	ResolvConf       string
	UpstreamTimeout  time.Duration
	HealthAddr       string
	TTL              uint32
	CacheSize        int
	CacheMaxTTL      time.Duration
	CacheNegativeTTL time.Duration
	MaxUDPSize       uint16
	Pods             string
	LogLevel         string
	// GCPercent is the Go heap growth allowed between collections.
	GCPercent int
	Watch     bus.WatchOptions
}

// New returns the defaults.
func New() *Options {
	return &Options{
		KubeAPIQPS:       50,
		KubeAPIBurst:     100,
		Listen:           "0.0.0.0:53",
		ClusterDomain:    "cluster.local",
		ResolvConf:       "/etc/resolv.conf",
		UpstreamTimeout:  2 * time.Second,
		HealthAddr:       "127.0.0.1:8081",
		TTL:              5,
		CacheSize:        10000,
		CacheMaxTTL:      time.Hour,
		CacheNegativeTTL: 30 * time.Minute,
		MaxUDPSize:       1232,
		Pods:             string(zone.PodsVerified),
		LogLevel:         "info",
		GCPercent:        25,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the apiserver (in-cluster config when empty)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS to the apiserver (negative: no client-side limit)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst to the apiserver")
	fs.StringVar(&o.Listen, "listen", o.Listen, "DNS address, UDP and TCP (port 0 picks a free one)")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS domain")
	fs.StringArrayVar(&o.Upstreams, "upstream", o.Upstreams, "upstream server for other names, ip or ip:port; repeatable, tried in order (default: the nameservers of --resolv-conf)")
	fs.StringVar(&o.ResolvConf, "resolv-conf", o.ResolvConf, "resolv.conf whose nameservers are the upstreams when --upstream is not given")
	fs.DurationVar(&o.UpstreamTimeout, "upstream-timeout", o.UpstreamTimeout, "timeout of one exchange with one upstream before trying the next")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "address of the /healthz, /readyz, /metrics listener (plain HTTP)")
	fs.Uint32Var(&o.TTL, "ttl", o.TTL, "TTL in seconds of cluster records")
	fs.IntVar(&o.CacheSize, "cache-size", o.CacheSize, "entries of the forwarding cache (0 disables it)")
	fs.DurationVar(&o.CacheMaxTTL, "cache-max-ttl", o.CacheMaxTTL, "longest a forwarded answer is cached")
	fs.DurationVar(&o.CacheNegativeTTL, "cache-max-negative-ttl", o.CacheNegativeTTL, "longest a forwarded NXDOMAIN/NODATA is cached (its SOA's negative TTL otherwise)")
	fs.Uint16Var(&o.MaxUDPSize, "max-udp-size", o.MaxUDPSize, "largest EDNS0 UDP response sent (and advertised)")
	fs.StringVar(&o.Pods, "pods", o.Pods, "pod records a-b-c-d.<ns>.pod.<zone>: verified (a pod with that IP exists in the namespace), insecure (any IP) or disabled")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.IntVar(&o.GCPercent, "gc-percent", o.GCPercent, "Go heap growth between collections in percent (as GOGC, which overrides it when set); lower trades CPU for memory")
	o.Watch.AddFlags(fs)
}

// Validate reports every invalid setting.
func (o *Options) Validate() []error {
	var errs []error
	if host, port, err := net.SplitHostPort(o.Listen); err != nil || (host != "" && net.ParseIP(host) == nil) || port == "" {
		errs = append(errs, fmt.Errorf("--listen %q is not ip:port", o.Listen))
	}
	if host, _, err := net.SplitHostPort(o.HealthAddr); err != nil || (host != "" && net.ParseIP(host) == nil) {
		errs = append(errs, fmt.Errorf("--health-addr %q is not ip:port", o.HealthAddr))
	}
	if _, ok := dns.IsDomainName(o.ClusterDomain); !ok || o.ClusterDomain == "" || o.ClusterDomain == "." {
		errs = append(errs, fmt.Errorf("--cluster-domain %q is not a domain name", o.ClusterDomain))
	}
	for _, u := range o.Upstreams {
		if _, err := forward.ParseUpstream(u); err != nil {
			errs = append(errs, fmt.Errorf("--upstream: %w", err))
		}
	}
	if o.UpstreamTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--upstream-timeout must be positive"))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("--cache-size must not be negative"))
	}
	if o.CacheMaxTTL < 0 || o.CacheNegativeTTL < 0 {
		errs = append(errs, fmt.Errorf("--cache-max-ttl and --cache-max-negative-ttl must not be negative"))
	}
	if o.MaxUDPSize < 512 {
		errs = append(errs, fmt.Errorf("--max-udp-size must be at least 512"))
	}
	switch zone.PodMode(o.Pods) {
	case zone.PodsVerified, zone.PodsInsecure, zone.PodsDisabled:
	default:
		errs = append(errs, fmt.Errorf("--pods %q is not verified, insecure or disabled", o.Pods))
	}
	if o.KubeAPIQPS > 0 && o.KubeAPIBurst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must be positive when --kube-api-qps is"))
	}
	if o.GCPercent < 10 {
		errs = append(errs, fmt.Errorf("--gc-percent must be at least 10"))
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", o.LogLevel))
	}
	return append(errs, o.Watch.Validate()...)
}
