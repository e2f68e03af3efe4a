// Package options holds drover-kubelet's flags and their validation.
package options

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"drover.dev/libs/bus"
)

// Runtimes the kubelet can run pods with.
const (
	RuntimeRunc   = "runc"
	RuntimeHollow = "hollow"
)

// Options are the kubelet's command-line settings.
type Options struct {
	Kubeconfig string
	NodeName   string
	NodeIP     string
	NodeLabels map[string]string
	// RegisterWithTaints are taints the node is created with ("key=value:Effect").
	RegisterWithTaints []string
	RootDir            string
	Runtime            string
	// PodCIDR is used when the Node has none (no node IPAM controller).
	PodCIDR       string
	ClusterDNS    []string
	ClusterDomain string
	ResolvConf    string
	MaxPods       int

	// Address and Port are the HTTPS API (logs, pods).
	Address           string
	Port              int
	TLSCertFile       string
	TLSPrivateKeyFile string
	ClientCAFile      string
	AnonymousAuth     bool
	// HealthzBindAddress and HealthzPort are /healthz, /readyz, /metrics (plain HTTP).
	HealthzBindAddress string
	HealthzPort        int

	PodManifestPath    string
	FileCheckFrequency time.Duration
	ImageImportDir     string
	InsecureRegistries []string
	ImageGCHighPercent int
	ImageGCLowPercent  int
	SyncFrequency      time.Duration

	KubeAPIQPS   float32
	KubeAPIBurst int
	// Events have a client and limits of their own, as in Kubernetes, so
	// that a burst of events never delays status updates.
	EventQPS   float32
	EventBurst int
	Watch      bus.WatchOptions
	LogLevel   string
	// Cleanup stops and removes every pod sandbox under RootDir, then exits.
	Cleanup bool
}

// New returns the defaults (Kubernetes' where both have the flag).
func New() *Options {
	host, _ := os.Hostname()
	return &Options{
		NodeName:           strings.ToLower(host),
		RootDir:            "/var/lib/drover/kubelet",
		Runtime:            RuntimeRunc,
		ClusterDNS:         []string{"10.96.0.10"},
		ClusterDomain:      "cluster.local",
		ResolvConf:         "/etc/resolv.conf",
		MaxPods:            110,
		Address:            "0.0.0.0",
		Port:               10250,
		HealthzBindAddress: "127.0.0.1",
		HealthzPort:        10248,
		ImageGCHighPercent: 85,
		ImageGCLowPercent:  80,
		SyncFrequency:      time.Second,
		FileCheckFrequency: 20 * time.Second,
		KubeAPIQPS:         50,
		KubeAPIBurst:       100,
		EventQPS:           50,
		EventBurst:         100,
		LogLevel:           "info",
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the apiserver")
	fs.StringVar(&o.NodeName, "hostname-override", o.NodeName, "name of the Node (default: the host name)")
	fs.StringVar(&o.NodeIP, "node-ip", o.NodeIP, "the node's InternalIP (default: the address of the default route's interface)")
	fs.StringToStringVar(&o.NodeLabels, "node-labels", o.NodeLabels, "extra labels of the Node (key=value,...)")
	fs.StringSliceVar(&o.RegisterWithTaints, "register-with-taints", o.RegisterWithTaints, "taints of a new Node (key=value:Effect,...)")
	fs.StringVar(&o.RootDir, "root-dir", o.RootDir, "directory of the kubelet's state: images, containers, logs, pod IPs")
	fs.StringVar(&o.Runtime, "runtime", o.Runtime, "runc (real containers) or hollow (nothing runs; for control-plane scale tests)")
	fs.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "pod IP range of a Node created without spec.podCIDR")
	fs.StringSliceVar(&o.ClusterDNS, "cluster-dns", o.ClusterDNS, "cluster DNS server IPs written into pods' resolv.conf")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "cluster DNS domain")
	fs.StringVar(&o.ResolvConf, "resolv-conf", o.ResolvConf, "resolv.conf pods with dnsPolicy Default get")
	fs.IntVar(&o.MaxPods, "max-pods", o.MaxPods, "pods capacity of the node")
	fs.StringVar(&o.Address, "address", o.Address, "IP address of the HTTPS API")
	fs.IntVar(&o.Port, "port", o.Port, "port of the HTTPS API (0 picks a free port)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "serving certificate (default: self-signed under --root-dir/pki)")
	fs.StringVar(&o.TLSPrivateKeyFile, "tls-private-key-file", o.TLSPrivateKeyFile, "serving key")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA that signs the client certificates allowed to use the API (the apiserver's)")
	fs.BoolVar(&o.AnonymousAuth, "anonymous-auth", o.AnonymousAuth, "allow API requests without a client certificate")
	fs.StringVar(&o.HealthzBindAddress, "healthz-bind-address", o.HealthzBindAddress, "IP address of /healthz, /readyz, /metrics (plain HTTP)")
	fs.IntVar(&o.HealthzPort, "healthz-port", o.HealthzPort, "port of /healthz, /readyz, /metrics (0 picks a free port)")
	fs.StringVar(&o.PodManifestPath, "pod-manifest-path", o.PodManifestPath, "directory of static pod manifests")
	fs.DurationVar(&o.FileCheckFrequency, "file-check-frequency", o.FileCheckFrequency, "how often --pod-manifest-path is scanned")
	fs.StringVar(&o.ImageImportDir, "image-import-dir", o.ImageImportDir, "directory watched for OCI/docker image archives to import (default --root-dir/import)")
	fs.StringSliceVar(&o.InsecureRegistries, "insecure-registries", o.InsecureRegistries, "registries (host:port) reached over plain HTTP; loopback ones always are")
	fs.IntVar(&o.ImageGCHighPercent, "image-gc-high-threshold", o.ImageGCHighPercent, "disk usage percent above which unused images are removed")
	fs.IntVar(&o.ImageGCLowPercent, "image-gc-low-threshold", o.ImageGCLowPercent, "disk usage percent image GC brings usage down to")
	fs.DurationVar(&o.SyncFrequency, "sync-frequency", o.SyncFrequency, "how often the runtime is relisted to notice containers that exited (each pod is also re-synced every 10s)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS to the apiserver (negative: no client-side limit)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst to the apiserver")
	fs.Float32Var(&o.EventQPS, "event-qps", o.EventQPS, "QPS of event creation, on a client of its own (negative: no limit)")
	fs.IntVar(&o.EventBurst, "event-burst", o.EventBurst, "burst of event creation")
	fs.BoolVar(&o.Cleanup, "cleanup", o.Cleanup, "stop and remove every container and pod network under --root-dir, then exit (what `drover up` runs when it stops)")
	o.Watch.AddFlags(fs)
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
}

// Validate reports every invalid setting.
func (o *Options) Validate() []error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, fmt.Errorf("--hostname-override is required (no host name)"))
	}
	if o.NodeIP != "" && net.ParseIP(o.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", o.NodeIP))
	}
	switch o.Runtime {
	case RuntimeRunc, RuntimeHollow:
	default:
		errs = append(errs, fmt.Errorf("--runtime %q is neither runc nor hollow", o.Runtime))
	}
	if o.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(o.PodCIDR); err != nil {
			errs = append(errs, fmt.Errorf("--pod-cidr: %w", err))
		}
	}
	for _, ip := range o.ClusterDNS {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("--cluster-dns %q is not an IP address", ip))
		}
	}
	if o.RootDir == "" {
		errs = append(errs, fmt.Errorf("--root-dir is required"))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--port", o.Port}, {"--healthz-port", o.HealthzPort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s %d is out of range", p.name, p.v))
		}
	}
	if (o.TLSCertFile == "") != (o.TLSPrivateKeyFile == "") {
		errs = append(errs, fmt.Errorf("--tls-cert-file and --tls-private-key-file go together"))
	}
	if o.MaxPods < 1 {
		errs = append(errs, fmt.Errorf("--max-pods must be positive"))
	}
	if o.ImageGCLowPercent >= o.ImageGCHighPercent || o.ImageGCHighPercent > 100 || o.ImageGCLowPercent < 0 {
		errs = append(errs, fmt.Errorf("image GC thresholds need 0 <= low < high <= 100"))
	}
	if o.FileCheckFrequency <= 0 {
		errs = append(errs, fmt.Errorf("--file-check-frequency must be positive"))
	}
	if o.SyncFrequency <= 0 {
		errs = append(errs, fmt.Errorf("--sync-frequency must be positive"))
	}
	for _, t := range o.RegisterWithTaints {
		if _, err := ParseTaint(t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range []struct {
		qps          float32
		burst        int
		qpsF, burstF string
	}{{o.KubeAPIQPS, o.KubeAPIBurst, "--kube-api-qps", "--kube-api-burst"}, {o.EventQPS, o.EventBurst, "--event-qps", "--event-burst"}} {
		if l.qps > 0 && l.burst < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1 when %s is positive, got %d", l.burstF, l.qpsF, l.burst))
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
