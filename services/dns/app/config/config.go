// Package config turns validated options into what drover-dns runs with:
// a logger, an API client and the upstream servers. Complete is the only
// way to get a CompletedConfig.
package config

import (
	"errors"
	"fmt"
	"net"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"drover.dev/dns/app/options"
	"drover.dev/dns/internal/apiclient"
	"drover.dev/dns/internal/forward"
	"drover.dev/libs/component"
)

// ErrNoUpstream means neither --upstream nor resolv.conf named a server.
var ErrNoUpstream = errors.New("config: no upstream servers")

// Config is drover-dns' runtime configuration.
type Config struct {
	Options *options.Options
	// RestConfig overrides --kubeconfig (tests).
	RestConfig *rest.Config
	// Logger overrides the one built from --log-level.
	Logger *zap.Logger
}

type completed struct {
	Options   *options.Options
	Clients   apiclient.Clients
	Logger    *zap.Logger
	Upstreams []string
}

// CompletedConfig can only come from Complete.
type CompletedConfig struct{ *completed }

// Complete validates options, finds the upstreams and builds the client.
func (c *Config) Complete() (CompletedConfig, error) {
	o := c.Options
	if errs := o.Validate(); len(errs) > 0 {
		return CompletedConfig{}, errors.Join(errs...)
	}
	ups, err := upstreams(o)
	if err != nil {
		return CompletedConfig{}, err
	}
	lg := c.Logger
	if lg == nil {
		if lg, err = component.NewLogger(o.LogLevel); err != nil {
			return CompletedConfig{}, err
		}
	}
	rc := c.RestConfig
	if rc == nil {
		if rc, err = component.RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst, "drover-dns"); err != nil {
			return CompletedConfig{}, err
		}
	} else {
		rc = rest.CopyConfig(rc)
		rc.QPS, rc.Burst = o.KubeAPIQPS, o.KubeAPIBurst
		rc.UserAgent = "drover-dns"
	}
	// Protobuf decodes lists of tens of thousands of pods with far less
	// garbage than JSON, where the apiserver offers it (drover's answers
	// JSON, which client-go accepts as well).
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := apiclient.New(rc)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: client: %w", err)
	}
	return CompletedConfig{&completed{Options: o, Clients: cs, Logger: lg, Upstreams: ups}}, nil
}

// upstreams are --upstream, or the nameservers of --resolv-conf.
func upstreams(o *options.Options) ([]string, error) {
	var out []string
	if len(o.Upstreams) > 0 {
		for _, u := range o.Upstreams {
			a, err := forward.ParseUpstream(u)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	rc, err := dns.ClientConfigFromFile(o.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("config: %w: reading %s: %w", ErrNoUpstream, o.ResolvConf, err)
	}
	for _, s := range rc.Servers {
		a, err := forward.ParseUpstream(net.JoinHostPort(s, rc.Port))
		if err != nil {
			continue // e.g. a link-local IPv6 server with a zone
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoUpstream, o.ResolvConf)
	}
	return out, nil
}
