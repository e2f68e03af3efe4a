// Package config turns validated options into what the kubelet runs with.
// Complete is the only way to get a CompletedConfig.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"drover.dev/kubelet/app/options"
	"drover.dev/libs/component"
)

// Config is the kubelet's runtime configuration.
type Config struct {
	Options *options.Options
	// RestConfig overrides --kubeconfig (tests).
	RestConfig *rest.Config
	// Logger overrides the one built from --log-level.
	Logger *zap.Logger
}

type completed struct {
	Options    *options.Options
	RestConfig *rest.Config
	Client     kubernetes.Interface
	// EventClient records events, with its own rate limits.
	EventClient kubernetes.Interface
	Logger      *zap.Logger
	NodeIP      string
	Taints      []v1.Taint
	ServeCert   tls.Certificate
	HealthAddr  string
	APIAddr     string
}

// CompletedConfig can only come from Complete.
type CompletedConfig struct{ *completed }

// Complete validates options, prepares the root dir and the serving
// certificate and builds the client.
func (c *Config) Complete() (CompletedConfig, error) {
	o := c.Options
	if errs := o.Validate(); len(errs) > 0 {
		return CompletedConfig{}, errors.Join(errs...)
	}
	var err error
	lg := c.Logger
	if lg == nil {
		if lg, err = component.NewLogger(o.LogLevel); err != nil {
			return CompletedConfig{}, err
		}
	}
	lg = lg.With(zap.String("node", o.NodeName))
	rc := c.RestConfig
	if rc == nil {
		if rc, err = component.RestConfig(o.Kubeconfig, o.KubeAPIQPS, o.KubeAPIBurst, "drover-kubelet"); err != nil {
			return CompletedConfig{}, err
		}
	} else {
		rc = rest.CopyConfig(rc)
		rc.QPS, rc.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	}
	rc.UserAgent = "drover-kubelet/" + o.NodeName
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: client: %w", err)
	}
	erc := rest.CopyConfig(rc)
	erc.QPS, erc.Burst = o.EventQPS, o.EventBurst
	if rc.QPS < 0 { // no limits asked for (tests)
		erc.QPS = rc.QPS
	}
	events, err := kubernetes.NewForConfig(erc)
	if err != nil {
		return CompletedConfig{}, fmt.Errorf("config: event client: %w", err)
	}
	if err := os.MkdirAll(o.RootDir, 0o700); err != nil {
		return CompletedConfig{}, fmt.Errorf("config: root dir: %w", err)
	}
	nodeIP := o.NodeIP
	if nodeIP == "" {
		nodeIP = DetectNodeIP()
	}
	var taints []v1.Taint
	for _, t := range o.RegisterWithTaints {
		taint, _ := options.ParseTaint(t)
		taints = append(taints, taint)
	}
	cert, err := servingCert(o, nodeIP)
	if err != nil {
		return CompletedConfig{}, err
	}
	return CompletedConfig{&completed{
		Options: o, RestConfig: rc, Client: cs, EventClient: events, Logger: lg, NodeIP: nodeIP, Taints: taints, ServeCert: cert,
		HealthAddr: net.JoinHostPort(o.HealthzBindAddress, fmt.Sprint(o.HealthzPort)),
		APIAddr:    net.JoinHostPort(o.Address, fmt.Sprint(o.Port)),
	}}, nil
}

// servingCert loads the given certificate or a self-signed one kept under
// the root dir (created on first start, as the kubelet does).
func servingCert(o *options.Options, nodeIP string) (tls.Certificate, error) {
	certFile, keyFile := o.TLSCertFile, o.TLSPrivateKeyFile
	if certFile == "" {
		dir := filepath.Join(o.RootDir, "pki")
		certFile, keyFile = filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
		if _, err := os.Stat(certFile); os.IsNotExist(err) {
			var ips []net.IP
			if ip := net.ParseIP(nodeIP); ip != nil {
				ips = append(ips, ip)
			}
			ips = append(ips, net.ParseIP("127.0.0.1"))
			certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(o.NodeName, ips, []string{o.NodeName, "localhost"})
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("config: serving certificate: %w", err)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return tls.Certificate{}, err
			}
			if err := certutil.WriteCert(certFile, certPEM); err != nil {
				return tls.Certificate{}, err
			}
			if err := keyutil.WriteKey(keyFile, keyPEM); err != nil {
				return tls.Certificate{}, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("config: serving certificate: %w", err)
	}
	return cert, nil
}

// DetectNodeIP returns the source address of the default route (no packet
// is sent), else the first non-loopback address, else 127.0.0.1.
func DetectNodeIP() string {
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsLoopback() {
			return a.IP.String()
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}
