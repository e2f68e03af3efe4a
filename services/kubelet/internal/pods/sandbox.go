package pods

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/kubelet/internal/runtime"
)

// Limits of resolv.conf that glibc honours.
const (
	maxDNSSearches    = 32
	maxDNSNameservers = 3
)

// sandboxConfig describes the pod's sandbox.
func (w *worker) sandboxConfig(pod *v1.Pod) runtime.SandboxConfig {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	cfg := runtime.SandboxConfig{
		PodUID: string(pod.UID), Name: pod.Name, Namespace: pod.Namespace,
		Hostname: hostname, HostNetwork: pod.Spec.HostNetwork,
		DNS:    w.m.dnsFor(pod),
		Labels: pod.Labels, Annotations: pod.Annotations,
	}
	for _, a := range pod.Spec.HostAliases {
		cfg.HostAliases = append(cfg.HostAliases, runtime.HostAlias{IP: a.IP, Hostnames: a.Hostnames})
	}
	return cfg
}

// dnsFor applies dnsPolicy and dnsConfig as Kubernetes does.
func (m *Manager) dnsFor(pod *v1.Pod) runtime.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = v1.DNSDefault
	}
	if policy != v1.DNSNone && policy != v1.DNSDefault && len(m.o.DNS.ClusterDNS) == 0 {
		policy = v1.DNSDefault // no cluster DNS configured: fall back, as the kubelet does
	}
	var cfg runtime.DNSConfig
	host := readResolvConf(m.o.DNS.HostResolvConf)
	switch policy {
	case v1.DNSDefault:
		cfg = host
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		d := m.o.DNS.ClusterDomain
		cfg.Servers = append(cfg.Servers, m.o.DNS.ClusterDNS...)
		cfg.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		cfg.Searches = append(cfg.Searches, host.Searches...)
		cfg.Options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = append(cfg.Servers, dc.Nameservers...)
		cfg.Searches = append(cfg.Searches, dc.Searches...)
		opts := map[string]int{}
		for i, o := range cfg.Options {
			name, _, _ := strings.Cut(o, ":")
			opts[name] = i
		}
		for _, o := range dc.Options {
			v := o.Name
			if o.Value != nil {
				v += ":" + *o.Value
			}
			if i, ok := opts[o.Name]; ok {
				cfg.Options[i] = v
			} else {
				opts[o.Name] = len(cfg.Options)
				cfg.Options = append(cfg.Options, v)
			}
		}
	}
	cfg.Searches = dedup(cfg.Searches)
	if len(cfg.Searches) > maxDNSSearches {
		cfg.Searches = cfg.Searches[:maxDNSSearches]
	}
	if len(cfg.Servers) > maxDNSNameservers {
		cfg.Servers = cfg.Servers[:maxDNSNameservers]
	}
	return cfg
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// readResolvConf parses nameserver, search and options lines.
func readResolvConf(path string) runtime.DNSConfig {
	var cfg runtime.DNSConfig
	if path == "" {
		return cfg
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, fields[1])
		case "search", "domain":
			cfg.Searches = append(cfg.Searches, fields[1:]...)
		case "options":
			cfg.Options = append(cfg.Options, fields[1:]...)
		}
	}
	return cfg
}

// dockerConfig is the content of a kubernetes.io/dockerconfigjson secret.
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// pullAuth reads the pod's imagePullSecrets.
func (w *worker) pullAuth(ctx context.Context, pod *v1.Pod) ([]runtime.RegistryAuth, error) {
	var out []runtime.RegistryAuth
	for _, ref := range pod.Spec.ImagePullSecrets {
		sec, err := w.m.o.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			// Kubernetes pulls anyway and lets the registry decide.
			continue
		}
		var auths map[string]dockerAuth
		switch sec.Type {
		case v1.SecretTypeDockerConfigJson:
			var dc dockerConfig
			if err := json.Unmarshal(sec.Data[v1.DockerConfigJsonKey], &dc); err != nil {
				return nil, fmt.Errorf("secret %s: %w", ref.Name, err)
			}
			auths = dc.Auths
		case v1.SecretTypeDockercfg:
			if err := json.Unmarshal(sec.Data[v1.DockerConfigKey], &auths); err != nil {
				return nil, fmt.Errorf("secret %s: %w", ref.Name, err)
			}
		default:
			continue
		}
		for server, a := range auths {
			ra := runtime.RegistryAuth{Server: registryHost(server), Username: a.Username, Password: a.Password, Auth: a.Auth, IdentityToken: a.IdentityToken}
			if ra.Username == "" && a.Auth != "" {
				if b, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
					ra.Username, ra.Password, _ = strings.Cut(string(b), ":")
				}
			}
			out = append(out, ra)
		}
	}
	return out, nil
}

// registryHost trims a scheme and path from a docker config key.
func registryHost(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	host, _, _ := strings.Cut(s, "/")
	return host
}
