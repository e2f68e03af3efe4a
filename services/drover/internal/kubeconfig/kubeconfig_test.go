package kubeconfig

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"drover.dev/drover/internal/pki"
)

func newPKI(t *testing.T) *pki.Bundle {
	t.Helper()
	b, err := pki.Ensure(pki.Config{Dir: filepath.Join(t.TempDir(), "pki")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func optionsFor(b *pki.Bundle, server string) Options {
	return Options{Server: server, CAFile: b.CACert, ClientCertFile: b.AdminCert, ClientKeyFile: b.AdminKey}
}

func TestWriteLoadsWithClientcmd(t *testing.T) {
	b := newPKI(t)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := Write(path, optionsFor(b, "https://127.0.0.1:6443")); err != nil {
		t.Fatal(err)
	}

	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("LoadFromFile: %v", err)
	}
	if err := clientcmd.Validate(*cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.CurrentContext != "drover" {
		t.Errorf("current context = %q, want drover", cfg.CurrentContext)
	}
	kctx := cfg.Contexts["drover"]
	if kctx == nil || kctx.Cluster != "drover" || kctx.AuthInfo != "drover-admin" {
		t.Fatalf("context drover = %+v", kctx)
	}
	cluster := cfg.Clusters["drover"]
	user := cfg.AuthInfos["drover-admin"]
	if cluster == nil || user == nil {
		t.Fatalf("clusters = %v, users = %v", cfg.Clusters, cfg.AuthInfos)
	}
	if cluster.Server != "https://127.0.0.1:6443" {
		t.Errorf("server = %q", cluster.Server)
	}

	want := func(path string) []byte {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	embedded := []struct {
		name      string
		got, want []byte
	}{
		{"certificate-authority-data", cluster.CertificateAuthorityData, want(b.CACert)},
		{"client-certificate-data", user.ClientCertificateData, want(b.AdminCert)},
		{"client-key-data", user.ClientKeyData, want(b.AdminKey)},
	}
	for _, e := range embedded {
		if len(e.got) == 0 || !bytes.Equal(e.got, e.want) {
			t.Errorf("%s does not hold the PKI file's content", e.name)
		}
	}
	if cluster.CertificateAuthority != "" || user.ClientCertificate != "" || user.ClientKey != "" {
		t.Errorf("kubeconfig refers to files instead of embedding them")
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

// TestWriteAuthenticatesAgainstServer talks to a TLS server that demands a
// client certificate from the cluster CA, through client-go's REST transport.
func TestWriteAuthenticatesAgainstServer(t *testing.T) {
	b := newPKI(t)
	pool, err := b.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(b.APIServerCert, b.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := Write(path, optionsFor(b, srv.URL)); err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL + "/version")
	if err != nil {
		t.Fatalf("GET with kubeconfig credentials: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != pki.AdminCommonName {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, pki.AdminCommonName)
	}
}

func TestWriteReplacesExistingFileWithMode0600(t *testing.T) {
	b := newPKI(t)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, optionsFor(b, "https://[::1]:7443")); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters["drover"].Server; got != "https://[::1]:7443" {
		t.Errorf("server = %q", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteRejectsIncompleteOptions(t *testing.T) {
	b := newPKI(t)
	tests := []struct {
		name   string
		mutate func(*Options)
	}{
		{"no server", func(o *Options) { o.Server = "" }},
		{"no CA", func(o *Options) { o.CAFile = "" }},
		{"no client cert", func(o *Options) { o.ClientCertFile = "" }},
		{"no client key", func(o *Options) { o.ClientKeyFile = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := optionsFor(b, "https://127.0.0.1:6443")
			tt.mutate(&opts)
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := Write(path, opts); !errors.Is(err, ErrMissingField) {
				t.Errorf("Write = %v, want ErrMissingField", err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a file was written: %v", err)
			}
		})
	}
}
