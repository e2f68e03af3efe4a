// Package options holds drover-apiserver's flags and their validation.
package options

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options are the apiserver's command-line settings.
type Options struct {
	EtcdServers           []string
	EtcdPrefix            string
	BindAddress           string
	SecurePort            int
	AdvertiseAddress      string
	TLSCertFile           string
	TLSPrivateKeyFile     string
	ClientCAFile          string
	ServiceClusterIPRange string
	ServiceNodePortRange  string
	LogLevel              string
	ShutdownTimeout       time.Duration
	WatchCacheHistory     int
	EventTTL              time.Duration
	// LeaseReuseDurationSeconds is how long one etcd lease serves the
	// objects written with a TTL (events).
	LeaseReuseDurationSeconds int
	MinRequestTimeout         time.Duration
	Profiling                 bool
	NATSURL                   string
	WatchCacheSourceFlag      string
	// Kubelet client TLS, for pods/log.
	KubeletClientCertificate    string
	KubeletClientKey            string
	KubeletCertificateAuthority string
}

// WatchCacheSource is where the object cache gets its changes: "bus" by
// default when a NATS URL is given, else "etcd".
func (o *Options) WatchCacheSource() string {
	if o.WatchCacheSourceFlag != "" {
		return o.WatchCacheSourceFlag
	}
	if o.NATSURL != "" {
		return "bus"
	}
	return "etcd"
}

// DefaultWatchCacheHistory is the most events kept per resource. Within it a
// resource keeps the last 75 s of its events and at least 100 of them, as
// Kubernetes sizes its watch cache: every event held keeps an object
// version alive, so a fixed ring filled up with lease renewals on an idle
// cluster. A watch resuming from further back is served from etcd, or
// gets 410 Gone once etcd has compacted past it, and re-lists.
const DefaultWatchCacheHistory = 1000

// New returns the defaults, which match kube-apiserver's where both have the flag.
func New() *Options {
	return &Options{
		EtcdPrefix:                "/registry",
		BindAddress:               "0.0.0.0",
		SecurePort:                6443,
		ServiceClusterIPRange:     "10.96.0.0/12",
		ServiceNodePortRange:      "30000-32767",
		LogLevel:                  "info",
		ShutdownTimeout:           30 * time.Second,
		WatchCacheHistory:         DefaultWatchCacheHistory,
		EventTTL:                  time.Hour,
		LeaseReuseDurationSeconds: 60,
		MinRequestTimeout:         30 * time.Minute,
		Profiling:                 true,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "etcd client URLs, comma separated (required)")
	fs.StringVar(&o.EtcdPrefix, "etcd-prefix", o.EtcdPrefix, "key prefix of all objects in etcd")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "IP address to listen on")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "HTTPS port (0 picks a free port)")
	fs.StringVar(&o.AdvertiseAddress, "advertise-address", o.AdvertiseAddress, "IP address published in the kubernetes Service endpoints (default: bind address, or 127.0.0.1 when binding to all addresses)")
	fs.StringVar(&o.KubeletClientCertificate, "kubelet-client-certificate", o.KubeletClientCertificate, "client certificate the apiserver presents to kubelets (pods/log)")
	fs.StringVar(&o.KubeletClientKey, "kubelet-client-key", o.KubeletClientKey, "key of --kubelet-client-certificate")
	fs.StringVar(&o.KubeletCertificateAuthority, "kubelet-certificate-authority", o.KubeletCertificateAuthority, "CA that signs kubelets' serving certificates (unverified when empty, as kube-apiserver)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "serving certificate (PEM); a self-signed one is generated when empty")
	fs.StringVar(&o.TLSPrivateKeyFile, "tls-private-key-file", o.TLSPrivateKeyFile, "serving private key (PEM)")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA bundle that client certificates are verified against when presented")
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", o.ServiceClusterIPRange, "CIDR from which Service cluster IPs are allocated")
	fs.StringVar(&o.ServiceNodePortRange, "service-node-port-range", o.ServiceNodePortRange, "port range for NodePort Services")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "how long graceful shutdown waits for requests to finish")
	fs.IntVar(&o.WatchCacheHistory, "watch-cache-history", o.WatchCacheHistory, "events kept per resource for watches that resume from a resourceVersion")
	fs.DurationVar(&o.EventTTL, "event-ttl", o.EventTTL, "how long events are kept after their last write (0 keeps them)")
	fs.IntVar(&o.LeaseReuseDurationSeconds, "lease-reuse-duration-seconds", o.LeaseReuseDurationSeconds, "how long one etcd lease serves every event written, instead of a lease each")
	fs.StringVar(&o.NATSURL, "nats-url", o.NATSURL, "NATS server URL(s), comma separated; when set, the replicas elect one publisher that puts every committed change on the JetStream event bus")
	fs.StringVar(&o.WatchCacheSourceFlag, "watch-cache-source", o.WatchCacheSourceFlag, "where the object cache follows changes: bus (one etcd watch per cluster; default when --nats-url is set) or etcd (a watch per replica)")
	fs.BoolVar(&o.Profiling, "profiling", o.Profiling, "serve Go profiles under /debug/pprof/")
	fs.DurationVar(&o.MinRequestTimeout, "min-request-timeout", o.MinRequestTimeout, "shortest server-chosen watch duration; each watch gets between this and twice this")
}

// Validate reports every invalid setting.
func (o *Options) Validate() []error {
	var errs []error
	if len(o.EtcdServers) == 0 {
		errs = append(errs, fmt.Errorf("--etcd-servers is required"))
	}
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if o.SecurePort < 0 || o.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d is out of range", o.SecurePort))
	}
	if o.AdvertiseAddress != "" && net.ParseIP(o.AdvertiseAddress) == nil {
		errs = append(errs, fmt.Errorf("--advertise-address %q is not an IP address", o.AdvertiseAddress))
	}
	if (o.KubeletClientCertificate == "") != (o.KubeletClientKey == "") {
		errs = append(errs, fmt.Errorf("--kubelet-client-certificate and --kubelet-client-key go together"))
	}
	if (o.TLSCertFile == "") != (o.TLSPrivateKeyFile == "") {
		errs = append(errs, fmt.Errorf("--tls-cert-file and --tls-private-key-file go together"))
	}
	if _, _, err := net.ParseCIDR(o.ServiceClusterIPRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-cluster-ip-range: %v", err))
	}
	if !strings.Contains(o.ServiceNodePortRange, "-") {
		errs = append(errs, fmt.Errorf("--service-node-port-range %q is not <from>-<to>", o.ServiceNodePortRange))
	}
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", o.LogLevel))
	}
	switch o.WatchCacheSourceFlag {
	case "", "etcd":
	case "bus":
		if o.NATSURL == "" {
			errs = append(errs, fmt.Errorf("--watch-cache-source=bus needs --nats-url"))
		}
	default:
		errs = append(errs, fmt.Errorf("--watch-cache-source %q is not bus or etcd", o.WatchCacheSourceFlag))
	}
	if o.EventTTL < 0 {
		errs = append(errs, fmt.Errorf("--event-ttl must not be negative"))
	}
	if o.LeaseReuseDurationSeconds < 1 {
		errs = append(errs, fmt.Errorf("--lease-reuse-duration-seconds must be at least 1"))
	}
	if o.WatchCacheHistory < 100 {
		errs = append(errs, fmt.Errorf("--watch-cache-history must be at least 100"))
	}
	return errs
}
