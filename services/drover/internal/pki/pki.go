// Package pki creates and keeps the certificates of a local drover cluster: a
// cluster CA, the apiserver's serving certificate and the admin client
// certificate. Everything is generated once and reused by later runs; a leaf
// certificate is issued again only when it no longer fits (expiring, missing a
// SAN the caller now needs, or signed by another CA).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"drover.dev/drover/internal/atomicfile"
)

// File names inside the PKI directory.
const (
	CACertFile        = "ca.crt"
	CAKeyFile         = "ca.key"
	APIServerCertFile = "apiserver.crt"
	APIServerKeyFile  = "apiserver.key"
	AdminCertFile     = "admin.crt"
	AdminKeyFile      = "admin.key"
)

// Subjects of the generated certificates.
const (
	CACommonName        = "drover-ca"
	APIServerCommonName = "drover-apiserver"
	AdminCommonName     = "drover-admin"
	// AdminGroup is the group Kubernetes authorizers treat as cluster admins.
	AdminGroup = "system:masters"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore re-issues a leaf certificate this long before it expires, so a
	// cluster started today does not break in the middle of next week.
	renewBefore = 30 * 24 * time.Hour
	// clockSkew backdates certificates so a client whose clock is a little
	// behind still accepts them.
	clockSkew = time.Hour
)

// DefaultServingHosts are the names and addresses every apiserver serving
// certificate carries: loopback and the in-cluster names of the kubernetes
// service, including its ClusterIP (the first address of 10.96.0.0/12).
var DefaultServingHosts = []string{
	"127.0.0.1",
	"::1",
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
	"10.96.0.1",
}

// ErrInvalidCA is returned when the CA files exist but cannot be used. The CA
// is never replaced silently: every certificate and kubeconfig handed out
// would stop working.
var ErrInvalidCA = errors.New("pki: existing CA is not usable")

// Config says where the PKI lives and what the serving certificate must cover.
type Config struct {
	// Dir holds the certificates and keys; it is created if missing.
	Dir string
	// ServingHosts are added to DefaultServingHosts in the apiserver serving
	// certificate; IP literals become IP SANs, anything else a DNS SAN.
	ServingHosts []string
	// Logger reports what was generated or reused; nil means no logs.
	Logger *zap.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Bundle holds the paths of a cluster's certificates and keys.
type Bundle struct {
	Dir           string
	CACert        string
	CAKey         string
	APIServerCert string
	APIServerKey  string
	AdminCert     string
	AdminKey      string
}

func newBundle(dir string) *Bundle {
	return &Bundle{
		Dir:           dir,
		CACert:        filepath.Join(dir, CACertFile),
		CAKey:         filepath.Join(dir, CAKeyFile),
		APIServerCert: filepath.Join(dir, APIServerCertFile),
		APIServerKey:  filepath.Join(dir, APIServerKeyFile),
		AdminCert:     filepath.Join(dir, AdminCertFile),
		AdminKey:      filepath.Join(dir, AdminKeyFile),
	}
}

// CAPool returns a pool holding the cluster CA, for clients of the apiserver.
func (b *Bundle) CAPool() (*x509.CertPool, error) {
	data, err := os.ReadFile(b.CACert)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("pki: %s holds no PEM certificate", b.CACert)
	}
	return pool, nil
}

// Ensure makes sure the PKI under cfg.Dir exists and is usable, generating
// what is missing or no longer fits, and returns the paths.
func Ensure(cfg Config) (*Bundle, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create %s: %w", cfg.Dir, err)
	}
	b := newBundle(cfg.Dir)

	ca, caKey, caCreated, err := ensureCA(b, now())
	if err != nil {
		return nil, err
	}
	if caCreated {
		lg.Info("generated cluster CA", zap.String("cert", b.CACert))
	}

	hosts := append(slices.Clone(DefaultServingHosts), cfg.ServingHosts...)
	serving := leafSpec{
		certPath: b.APIServerCert,
		keyPath:  b.APIServerKey,
		template: x509.Certificate{
			Subject:     pkix.Name{CommonName: APIServerCommonName},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		},
	}
	serving.template.IPAddresses, serving.template.DNSNames = splitHosts(hosts)

	admin := leafSpec{
		certPath: b.AdminCert,
		keyPath:  b.AdminKey,
		template: x509.Certificate{
			Subject:     pkix.Name{CommonName: AdminCommonName, Organization: []string{AdminGroup}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		},
	}

	for _, spec := range []leafSpec{serving, admin} {
		reason, err := ensureLeaf(spec, ca, caKey, caCreated, now())
		if err != nil {
			return nil, err
		}
		if reason != "" {
			lg.Info("issued certificate", zap.String("cert", spec.certPath), zap.String("reason", reason))
		} else {
			lg.Debug("reusing certificate", zap.String("cert", spec.certPath))
		}
	}
	return b, nil
}

// ensureCA loads the CA, or creates it when neither file exists.
func ensureCA(b *Bundle, now time.Time) (*x509.Certificate, crypto.Signer, bool, error) {
	certExists, keyExists := exists(b.CACert), exists(b.CAKey)
	if certExists || keyExists {
		if !certExists || !keyExists {
			return nil, nil, false, fmt.Errorf("%w: only one of %s and %s exists; remove the PKI directory to start over", ErrInvalidCA, CACertFile, CAKeyFile)
		}
		cert, key, err := loadPair(b.CACert, b.CAKey)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: %w", ErrInvalidCA, err)
		}
		if !cert.IsCA {
			return nil, nil, false, fmt.Errorf("%w: %s is not a CA certificate", ErrInvalidCA, b.CACert)
		}
		if now.After(cert.NotAfter) {
			return nil, nil, false, fmt.Errorf("%w: %s expired on %s; remove the PKI directory to start over", ErrInvalidCA, b.CACert, cert.NotAfter.Format(time.DateOnly))
		}
		return cert, key, false, nil
	}

	key, err := newKey()
	if err != nil {
		return nil, nil, false, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, false, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, false, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, false, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	// The key goes first: a certificate without its key is unusable, a key
	// without its certificate is detected above and reported.
	if err := writeKey(b.CAKey, key); err != nil {
		return nil, nil, false, err
	}
	if err := writeCert(b.CACert, der); err != nil {
		return nil, nil, false, err
	}
	return cert, key, true, nil
}

type leafSpec struct {
	certPath, keyPath string
	// template carries the subject, SANs and extended key usage; serial,
	// validity, key usage and key IDs are filled in when issuing.
	template x509.Certificate
}

// ensureLeaf reuses the leaf at spec's paths when it still fits, otherwise
// issues a new one. It returns why it issued one, or "" when it reused.
func ensureLeaf(spec leafSpec, ca *x509.Certificate, caKey crypto.Signer, caCreated bool, now time.Time) (string, error) {
	reason := "missing"
	if !caCreated && exists(spec.certPath) && exists(spec.keyPath) {
		cert, _, err := loadPair(spec.certPath, spec.keyPath)
		if err != nil {
			reason = err.Error()
		} else {
			reason = misfit(cert, &spec.template, ca, now)
		}
		if reason == "" {
			return "", nil
		}
	} else if caCreated {
		reason = "new CA"
	}

	key, err := newKey()
	if err != nil {
		return "", err
	}
	serial, err := newSerial()
	if err != nil {
		return "", err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return "", err
	}
	tmpl := spec.template
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.SubjectKeyId = ski
	tmpl.AuthorityKeyId = ca.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, key.Public(), caKey)
	if err != nil {
		return "", fmt.Errorf("pki: create %s: %w", filepath.Base(spec.certPath), err)
	}
	if err := writeKey(spec.keyPath, key); err != nil {
		return "", err
	}
	if err := writeCert(spec.certPath, der); err != nil {
		return "", err
	}
	return reason, nil
}

// misfit says why cert cannot be reused in place of one made from want, or
// returns "" when it can.
func misfit(cert, want *x509.Certificate, ca *x509.Certificate, now time.Time) string {
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return "not signed by the current CA"
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return "expires soon"
	}
	if now.Before(cert.NotBefore) {
		return "not valid yet"
	}
	if cert.Subject.CommonName != want.Subject.CommonName || !slices.Equal(cert.Subject.Organization, want.Subject.Organization) {
		return "subject changed"
	}
	for _, u := range want.ExtKeyUsage {
		if !slices.Contains(cert.ExtKeyUsage, u) {
			return "extended key usage changed"
		}
	}
	for _, ip := range want.IPAddresses {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return "missing SAN " + ip.String()
		}
	}
	for _, name := range want.DNSNames {
		if !slices.Contains(cert.DNSNames, name) {
			return "missing SAN " + name
		}
	}
	return ""
}

// splitHosts turns host names and IP literals into the SAN fields, dropping
// duplicates and unspecified addresses (0.0.0.0 and :: name no host).
func splitHosts(hosts []string) ([]net.IP, []string) {
	var ips []net.IP
	var names []string
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() || slices.ContainsFunc(ips, ip.Equal) {
				continue
			}
			ips = append(ips, ip)
			continue
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return ips, names
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generate serial: %w", err)
	}
	return serial, nil
}

// subjectKeyID follows RFC 5280 4.2.1.2 method 1: the SHA-1 of the public key.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("pki: parse public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load %s: %w", filepath.Base(certPath), err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pki: key %s cannot sign", keyPath)
	}
	return pair.Leaf, signer, nil
}

func writeCert(path string, der []byte) error {
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %w", err)
	}
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
