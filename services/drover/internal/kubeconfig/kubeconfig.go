// Package kubeconfig writes the admin kubeconfig of a local drover cluster:
// one cluster, one user authenticated by a client certificate, one context,
// with every certificate and key embedded so the file works from anywhere.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"drover.dev/drover/internal/atomicfile"
)

// Names used in the written kubeconfig.
const (
	DefaultClusterName = "drover"
	DefaultUserName    = "drover-admin"
	DefaultContextName = "drover"
)

// ErrMissingField is returned when Options lack something a working
// kubeconfig needs.
var ErrMissingField = errors.New("kubeconfig: missing field")

// Options describe the kubeconfig to write. Empty names take the defaults.
type Options struct {
	ClusterName string
	UserName    string
	ContextName string
	// Server is the apiserver URL, e.g. https://127.0.0.1:6443.
	Server string
	// CAFile, ClientCertFile and ClientKeyFile are PEM files whose content is
	// embedded.
	CAFile         string
	ClientCertFile string
	ClientKeyFile  string
}

// Build returns the kubeconfig described by opts.
func Build(opts Options) (*clientcmdapi.Config, error) {
	if opts.ClusterName == "" {
		opts.ClusterName = DefaultClusterName
	}
	if opts.UserName == "" {
		opts.UserName = DefaultUserName
	}
	if opts.ContextName == "" {
		opts.ContextName = DefaultContextName
	}
	required := []struct{ name, value string }{
		{"Server", opts.Server},
		{"CAFile", opts.CAFile},
		{"ClientCertFile", opts.ClientCertFile},
		{"ClientKeyFile", opts.ClientKeyFile},
	}
	for _, f := range required {
		if f.value == "" {
			return nil, fmt.Errorf("%w: %s", ErrMissingField, f.name)
		}
	}
	ca, err := os.ReadFile(opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cert, err := os.ReadFile(opts.ClientCertFile)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	key, err := os.ReadFile(opts.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}

	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = opts.Server
	cluster.CertificateAuthorityData = ca
	cfg.Clusters[opts.ClusterName] = cluster

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = cert
	user.ClientKeyData = key
	cfg.AuthInfos[opts.UserName] = user

	kctx := clientcmdapi.NewContext()
	kctx.Cluster = opts.ClusterName
	kctx.AuthInfo = opts.UserName
	cfg.Contexts[opts.ContextName] = kctx
	cfg.CurrentContext = opts.ContextName
	return cfg, nil
}

// Write builds the kubeconfig described by opts and writes it to path with
// mode 0600: it holds the admin's private key.
func Write(path string, opts Options) error {
	cfg, err := Build(opts)
	if err != nil {
		return err
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: encode: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("kubeconfig: write %s: %w", path, err)
	}
	return nil
}
