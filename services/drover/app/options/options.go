// Package options holds the flags of the drover commands and their
// validation.
package options

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// Defaults of `drover up`.
const (
	DefaultStateDir          = ".drover"
	DefaultBindAddress       = "127.0.0.1"
	DefaultAPIServerPort     = 6443
	DefaultAPIServerReplicas = 1
	DefaultEtcdPort          = 2379
	DefaultEtcdPeerPort      = 2380
	DefaultNATSPort          = 4222
	DefaultNodeRuntime       = "runc"
	DefaultNodes             = 1
	// DefaultBridge and DefaultNodeNetwork are the simulated datacentre
	// network of a cluster with more than one node.
	DefaultBridge      = "drover0"
	DefaultNodeNetwork = "172.31.0.0/24"
)

// Components `drover up` can run, in start order.
const (
	ComponentAPIServer         = "apiserver"
	ComponentControllerManager = "controller-manager"
	ComponentScheduler         = "scheduler"
	ComponentDNS               = "dns"
	// ComponentKubelet and ComponentProxy run once per node.
	ComponentKubelet = "kubelet"
	ComponentProxy   = "proxy"
)

// AllComponents is the default of --components.
var AllComponents = []string{ComponentAPIServer, ComponentControllerManager, ComponentScheduler, ComponentDNS, ComponentKubelet, ComponentProxy}

// GlobalOptions apply to every command.
type GlobalOptions struct {
	// Verbose logs at debug level and lets embedded etcd log at info.
	Verbose bool
}

// AddFlags registers the global flags.
func (o *GlobalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Verbose, "verbose", o.Verbose, "Log more: drover at debug level, embedded etcd at info level instead of warn.")
}

// UpOptions are the flags of `drover up`.
type UpOptions struct {
	StateDir          string
	BindAddress       string
	APIServerPort     int
	APIServerReplicas int
	EtcdPort          int
	EtcdPeerPort      int
	EtcdServers       []string
	NATSPort          int
	NATSURL           string
	BinDir            string
	Components        []string
	NodeRuntime       string
	// Nodes is how many nodes run; more than one puts each in a network
	// namespace of its own on Bridge.
	Nodes       int
	Bridge      string
	NodeNetwork string
	// DaemonArgs are extra arguments per daemon, "daemon=--flag=value".
	DaemonArgs []string
}

// ExtraArgs returns the --daemon-arg arguments of a component, in order.
func (o *UpOptions) ExtraArgs(component string) []string {
	var args []string
	for _, a := range o.DaemonArgs {
		if name, arg, ok := strings.Cut(a, "="); ok && name == component {
			args = append(args, arg)
		}
	}
	return args
}

// Runs reports whether component is in --components.
func (o *UpOptions) Runs(component string) bool {
	for _, c := range o.Components {
		if c == component {
			return true
		}
	}
	return false
}

// NewUpOptions returns the defaults.
func NewUpOptions() *UpOptions {
	return &UpOptions{
		StateDir:          DefaultStateDir,
		BindAddress:       DefaultBindAddress,
		APIServerPort:     DefaultAPIServerPort,
		APIServerReplicas: DefaultAPIServerReplicas,
		EtcdPort:          DefaultEtcdPort,
		EtcdPeerPort:      DefaultEtcdPeerPort,
		NATSPort:          DefaultNATSPort,
		Components:        append([]string{}, AllComponents...),
		NodeRuntime:       DefaultNodeRuntime,
		Nodes:             DefaultNodes,
		Bridge:            DefaultBridge,
		NodeNetwork:       DefaultNodeNetwork,
	}
}

// AddFlags registers the flags of `drover up`.
func (o *UpOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.StateDir, "state-dir", o.StateDir, "Directory for etcd data, certificates, kubeconfig and logs; a later run resumes from it.")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "IP address the apiserver listens on; also added to its serving certificate.")
	fs.IntVar(&o.APIServerPort, "apiserver-port", o.APIServerPort, "HTTPS port of the apiserver; replica i listens on this port + i.")
	fs.IntVar(&o.APIServerReplicas, "apiserver-replicas", o.APIServerReplicas, "Number of apiserver processes.")
	fs.IntVar(&o.EtcdPort, "etcd-port", o.EtcdPort, "Client port of the embedded etcd on 127.0.0.1.")
	fs.IntVar(&o.EtcdPeerPort, "etcd-peer-port", o.EtcdPeerPort, "Peer port of the embedded etcd on 127.0.0.1.")
	fs.StringSliceVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "Comma-separated etcd client URLs to use instead of starting an embedded etcd.")
	fs.IntVar(&o.NATSPort, "nats-port", o.NATSPort, "Client port of the embedded NATS server (JetStream event bus) on 127.0.0.1.")
	fs.StringVar(&o.NATSURL, "nats-url", o.NATSURL, "URL(s) of an external NATS with JetStream to use instead of starting an embedded one.")
	fs.StringSliceVar(&o.Components, "components", o.Components, "Daemons to run, in start order: apiserver, controller-manager, scheduler, dns, and per node kubelet and proxy.")
	fs.StringVar(&o.NodeRuntime, "node-runtime", o.NodeRuntime, "Container runtime of the nodes: runc (real containers; needs root) or hollow (nothing runs).")
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "Number of nodes, node-1..node-N. One node runs in the host's network namespace; more run each in a network namespace of its own, joined by --bridge.")
	fs.StringVar(&o.Bridge, "bridge", o.Bridge, "With --nodes > 1: the host bridge standing for the datacentre network between the nodes.")
	fs.StringVar(&o.NodeNetwork, "node-network", o.NodeNetwork, "With --nodes > 1: IPv4 network of --bridge; the host gets its first address (the control plane listens there), node-i the (i+1)th.")
	fs.StringArrayVar(&o.DaemonArgs, "daemon-arg", o.DaemonArgs, "Extra argument of a daemon, as COMPONENT=ARG (e.g. controller-manager=--node-monitor-grace-period=10s); repeatable. Node arguments go to every node's daemon.")
	fs.StringVar(&o.BinDir, "bin-dir", o.BinDir, "Directory holding drover-apiserver (default: the directory of the drover executable).")
}

// EmbeddedEtcd reports whether `drover up` starts its own etcd.
func (o *UpOptions) EmbeddedEtcd() bool { return len(o.EtcdServers) == 0 }

// Validate returns every problem with the options.
func (o *UpOptions) Validate() []error {
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("--state-dir must not be empty"))
	}
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	if o.APIServerReplicas < 1 {
		errs = append(errs, fmt.Errorf("--apiserver-replicas must be at least 1, got %d", o.APIServerReplicas))
	}
	errs = append(errs, validatePort("--apiserver-port", o.APIServerPort)...)
	if o.APIServerReplicas > 1 && o.APIServerPort+o.APIServerReplicas-1 > 65535 {
		errs = append(errs, fmt.Errorf("--apiserver-port %d leaves no room for %d replicas", o.APIServerPort, o.APIServerReplicas))
	}
	if o.EmbeddedEtcd() {
		errs = append(errs, validatePort("--etcd-port", o.EtcdPort)...)
		errs = append(errs, validatePort("--etcd-peer-port", o.EtcdPeerPort)...)
		if o.EtcdPort == o.EtcdPeerPort {
			errs = append(errs, fmt.Errorf("--etcd-port and --etcd-peer-port are both %d", o.EtcdPort))
		}
		for _, p := range []struct {
			flag string
			port int
		}{{"--etcd-port", o.EtcdPort}, {"--etcd-peer-port", o.EtcdPeerPort}} {
			if p.port >= o.APIServerPort && p.port < o.APIServerPort+max(o.APIServerReplicas, 1) {
				errs = append(errs, fmt.Errorf("%s %d is also an apiserver port", p.flag, p.port))
			}
		}
	}
	if o.NATSURL == "" {
		errs = append(errs, validatePort("--nats-port", o.NATSPort)...)
	}
	if !o.Runs(ComponentAPIServer) {
		errs = append(errs, errors.New("--components must include apiserver"))
	}
	for _, c := range o.Components {
		known := false
		for _, k := range AllComponents {
			known = known || c == k
		}
		if !known {
			errs = append(errs, fmt.Errorf("--components: unknown component %q (known: %v)", c, AllComponents))
		}
	}
	if o.NodeRuntime != "runc" && o.NodeRuntime != "hollow" {
		errs = append(errs, fmt.Errorf("--node-runtime %q is neither runc nor hollow", o.NodeRuntime))
	}
	if o.Nodes < 1 {
		errs = append(errs, fmt.Errorf("--nodes must be at least 1, got %d", o.Nodes))
	}
	if o.Nodes > 1 {
		p, err := netip.ParsePrefix(o.NodeNetwork)
		switch {
		case err != nil || !p.Addr().Is4():
			errs = append(errs, fmt.Errorf("--node-network %q is not an IPv4 CIDR", o.NodeNetwork))
		case o.Nodes > 1<<(32-p.Bits())-3:
			errs = append(errs, fmt.Errorf("--node-network %s has no room for %d nodes, the host and the broadcast address", p, o.Nodes))
		}
		if o.Bridge == "" || len(o.Bridge) > 11 {
			errs = append(errs, fmt.Errorf("--bridge %q must have 1 to 11 characters (its ports are named <bridge>n<i>)", o.Bridge))
		}
	}
	for _, a := range o.DaemonArgs {
		name, arg, ok := strings.Cut(a, "=")
		if !ok || !slices.Contains(AllComponents, name) || !strings.HasPrefix(arg, "-") {
			errs = append(errs, fmt.Errorf("--daemon-arg %q is not COMPONENT=-FLAG with a component of %v", a, AllComponents))
		}
	}
	for _, s := range o.EtcdServers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--etcd-servers: %q is not an http(s) URL", s))
		}
	}
	return errs
}

func validatePort(flag string, port int) []error {
	if port < 1 || port > 65535 {
		return []error{fmt.Errorf("%s must be between 1 and 65535, got %d", flag, port)}
	}
	return nil
}

// DownOptions are the flags of `drover down`.
type DownOptions struct {
	StateDir string
	Purge    bool
}

// NewDownOptions returns the defaults.
func NewDownOptions() *DownOptions {
	return &DownOptions{StateDir: DefaultStateDir}
}

// AddFlags registers the flags of `drover down`.
func (o *DownOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.StateDir, "state-dir", o.StateDir, "State directory of the cluster, as given to drover up.")
	fs.BoolVar(&o.Purge, "purge", o.Purge, "Delete the state directory: etcd data, certificates, kubeconfig and logs.")
}

// Validate returns every problem with the options.
func (o *DownOptions) Validate() []error {
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("--state-dir must not be empty"))
	}
	return errs
}
