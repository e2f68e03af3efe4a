package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func ensure(t *testing.T, cfg Config) *Bundle {
	t.Helper()
	b, err := Ensure(cfg)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, path[:len(path)-len(".crt")]+".key")
	if err != nil {
		t.Fatalf("load %s with its key: %v", path, err)
	}
	return pair.Leaf
}

func readAll(t *testing.T, b *Bundle) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{b.CACert, b.CAKey, b.APIServerCert, b.APIServerKey, b.AdminCert, b.AdminKey} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

func TestEnsureServingCertChainsToCA(t *testing.T) {
	b := ensure(t, Config{Dir: t.TempDir(), ServingHosts: []string{"192.0.2.10"}})
	pool, err := b.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	serving := loadCert(t, b.APIServerCert)

	hosts := append(slices.Clone(DefaultServingHosts), "192.0.2.10")
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			_, err := serving.Verify(x509.VerifyOptions{
				DNSName:   host,
				Roots:     pool,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Errorf("serving certificate does not verify for %s: %v", host, err)
			}
		})
	}
	if _, err := serving.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); err == nil {
		t.Errorf("serving certificate verifies for a host it was not issued for")
	}
}

func TestEnsureCertificateProperties(t *testing.T) {
	b := ensure(t, Config{Dir: t.TempDir()})
	pool, err := b.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	ca := loadCert(t, b.CACert)

	tests := []struct {
		name     string
		cert     string
		key      string
		usage    x509.ExtKeyUsage
		wantCN   string
		wantOrgs []string
	}{
		{name: "apiserver", cert: b.APIServerCert, key: b.APIServerKey, usage: x509.ExtKeyUsageServerAuth, wantCN: APIServerCommonName},
		{name: "admin", cert: b.AdminCert, key: b.AdminKey, usage: x509.ExtKeyUsageClientAuth, wantCN: "drover-admin", wantOrgs: []string{"system:masters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := loadCert(t, tt.cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
			if cert.Subject.CommonName != tt.wantCN || !slices.Equal(cert.Subject.Organization, tt.wantOrgs) {
				t.Errorf("subject = %v, want CN=%s O=%v", cert.Subject, tt.wantCN, tt.wantOrgs)
			}
			if cert.IsCA {
				t.Errorf("leaf certificate is a CA")
			}
			if !bytes.Equal(cert.AuthorityKeyId, ca.SubjectKeyId) {
				t.Errorf("authority key id does not name the CA")
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key is %T, want ECDSA P-256", cert.PublicKey)
			}
			fi, err := os.Stat(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key mode = %v, want 0600", fi.Mode().Perm())
			}
		})
	}
	if !ca.IsCA || ca.Subject.CommonName != CACommonName {
		t.Errorf("CA certificate: IsCA=%v subject=%v", ca.IsCA, ca.Subject)
	}
}

// TestEnsureMutualTLS checks the certificates work together in a real TLS
// handshake: the admin client verifies the apiserver and is verified by it.
func TestEnsureMutualTLS(t *testing.T) {
	b := ensure(t, Config{Dir: t.TempDir()})
	pool, err := b.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	serverPair, err := tls.LoadX509KeyPair(b.APIServerCert, b.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.LoadX509KeyPair(b.AdminCert, b.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()
	client, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{clientPair},
		RootCAs:      pool,
		ServerName:   "kubernetes.default.svc",
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer client.Close()
	if got := <-peer; got != AdminCommonName {
		t.Errorf("server saw client %q, want %q", got, AdminCommonName)
	}
}

func TestEnsureReusesOnSecondRun(t *testing.T) {
	dir := t.TempDir()
	first := readAll(t, ensure(t, Config{Dir: dir, ServingHosts: []string{"127.0.0.1"}}))
	second := readAll(t, ensure(t, Config{Dir: dir, ServingHosts: []string{"127.0.0.1"}}))
	for name, data := range first {
		if !bytes.Equal(data, second[name]) {
			t.Errorf("%s changed on the second run", name)
		}
	}
}

func TestEnsureReissuesLeavesThatNoLongerFit(t *testing.T) {
	tests := []struct {
		name        string
		second      Config
		wantChanged []string
	}{
		{
			name:        "new bind address",
			second:      Config{ServingHosts: []string{"192.0.2.20"}},
			wantChanged: []string{APIServerCertFile, APIServerKeyFile},
		},
		{
			name:        "leaves expire within the renewal window",
			second:      Config{Now: func() time.Time { return time.Now().Add(leafValidity - renewBefore/2) }},
			wantChanged: []string{APIServerCertFile, APIServerKeyFile, AdminCertFile, AdminKeyFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := readAll(t, ensure(t, Config{Dir: dir}))
			tt.second.Dir = dir
			b := ensure(t, tt.second)
			second := readAll(t, b)
			for name, data := range first {
				changed := !bytes.Equal(data, second[name])
				if want := slices.Contains(tt.wantChanged, name); changed != want {
					t.Errorf("%s changed = %v, want %v", name, changed, want)
				}
			}
			pool, err := b.CAPool()
			if err != nil {
				t.Fatal(err)
			}
			for _, host := range tt.second.ServingHosts {
				opts := x509.VerifyOptions{DNSName: host, Roots: pool}
				if tt.second.Now != nil {
					opts.CurrentTime = tt.second.Now()
				}
				if _, err := loadCert(t, b.APIServerCert).Verify(opts); err != nil {
					t.Errorf("reissued serving certificate does not verify for %s: %v", host, err)
				}
			}
		})
	}
}

func TestEnsureRegeneratesMismatchedLeafKey(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, Config{Dir: dir})
	// An admin key next to the serving certificate: a pair that cannot load.
	key, err := os.ReadFile(b.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.APIServerKey, key, 0o600); err != nil {
		t.Fatal(err)
	}
	b = ensure(t, Config{Dir: dir})
	loadCert(t, b.APIServerCert)
}

func TestEnsureRefusesBrokenCA(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(b *Bundle) error
	}{
		{name: "key missing", corrupt: func(b *Bundle) error { return os.Remove(b.CAKey) }},
		{name: "certificate missing", corrupt: func(b *Bundle) error { return os.Remove(b.CACert) }},
		{name: "garbage", corrupt: func(b *Bundle) error { return os.WriteFile(b.CACert, []byte("nope"), 0o644) }},
		{name: "not a CA", corrupt: func(b *Bundle) error {
			if err := os.Rename(b.AdminCert, b.CACert); err != nil {
				return err
			}
			return os.Rename(b.AdminKey, b.CAKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b := ensure(t, Config{Dir: dir})
			if err := tt.corrupt(b); err != nil {
				t.Fatal(err)
			}
			if _, err := Ensure(Config{Dir: dir}); !errors.Is(err, ErrInvalidCA) {
				t.Fatalf("Ensure = %v, want ErrInvalidCA", err)
			}
		})
	}
}
