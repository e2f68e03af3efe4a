package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.uber.org/zap/zaptest"

	"drover.dev/kubelet/internal/runtime"
	"drover.dev/libs/testimages"
)

func newStore(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	s, err := New(filepath.Join(t.TempDir(), "images"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func busybox(t testing.TB) v1.Image {
	t.Helper()
	img, err := testimages.Busybox()
	if err != nil {
		t.Fatalf("%v (the image tests need Debian's busybox-static: apt-get install busybox-static)", err)
	}
	return img
}

// withLayer is base plus one layer holding a file of n random bytes
// (seeded, so incompressible but reproducible).
func withLayer(t testing.TB, base v1.Image, file string, n int, seed int64) v1.Image {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	l, err := testimages.LayerFromFiles([]F{{Name: file, Mode: 0o644, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	img, err := testimages.ImageFromLayers(cf.Config, append(layers, l)...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// requestLog counts registry requests by path.
type requestLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *requestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		l.lines = append(l.lines, sc.Text())
	}
	return len(p), nil
}

func (l *requestLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func startRegistry(t *testing.T, opts ...testimages.RegistryOption) string {
	t.Helper()
	addr, stop, err := testimages.StartRegistry(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

func push(t *testing.T, ref string, img v1.Image, auth ...authn.Authenticator) {
	t.Helper()
	if err := testimages.Push(context.Background(), ref, img, auth...); err != nil {
		t.Fatal(err)
	}
}

func ids(t testing.TB, img v1.Image) (id, manifest string) {
	t.Helper()
	c, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return c.String(), m.String()
}

func TestPullByTagAndDigest(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	img := busybox(t)
	push(t, addr+"/library/busybox:1.35", img)
	id, manifest := ids(t, img)
	s := newStore(t, Options{})

	got, err := s.PullImage(ctx, addr+"/library/busybox:1.35", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id {
		t.Fatalf("ID %s, want config digest %s", got.ID, id)
	}
	if !slices.Equal(got.RepoTags, []string{addr + "/library/busybox:1.35"}) ||
		!slices.Equal(got.RepoDigests, []string{addr + "/library/busybox@" + manifest}) {
		t.Errorf("names %v %v", got.RepoTags, got.RepoDigests)
	}
	if !slices.Equal(got.Cmd, []string{"sh"}) || len(got.Env) != 1 || got.Size < 1<<20 {
		t.Errorf("config/size: cmd %v env %v size %d", got.Cmd, got.Env, got.Size)
	}
	for _, ref := range []string{addr + "/library/busybox:1.35", addr + "/library/busybox@" + manifest, id, strings.TrimPrefix(id, "sha256:")} {
		st, err := s.ImageStatus(ctx, ref)
		if err != nil || st.ID != id {
			t.Errorf("ImageStatus(%s) = %v, %v", ref, st, err)
		}
	}
	for _, ref := range []string{addr + "/library/busybox:other", addr + "/library/nope", "sha256:" + strings.Repeat("0", 64)} {
		if _, err := s.ImageStatus(ctx, ref); !errors.Is(err, runtime.ErrImageNotPresent) {
			t.Errorf("ImageStatus(%s) err = %v, want ErrImageNotPresent", ref, err)
		}
	}
	dirs, err := s.LayerDirs(id)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("LayerDirs: %v %v", dirs, err)
	}
	if fi, err := os.Lstat(filepath.Join(dirs[0], "bin/sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("bin/sh in layer: %v %v", fi, err)
	}

	// By digest, under another repository: same image, one more digest name.
	push(t, addr+"/mirror/bb:x", img)
	got2, err := s.PullImage(ctx, addr+"/mirror/bb@"+manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got2.ID != id || !slices.Contains(got2.RepoDigests, addr+"/mirror/bb@"+manifest) || len(got2.RepoTags) != 1 {
		t.Errorf("by digest: %+v", got2)
	}
	list, _ := s.ListImages(ctx)
	if len(list) != 1 {
		t.Errorf("ListImages: %d images, want 1", len(list))
	}
}

func TestPullMovesTag(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	s := newStore(t, Options{})
	ref := addr + "/app:latest"
	v1img := withLayer(t, busybox(t), "app/v", 100, 1)
	v2img := withLayer(t, busybox(t), "app/v", 100, 2)
	push(t, ref, v1img)
	a, err := s.PullImage(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	push(t, ref, v2img)
	b, err := s.PullImage(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatal("same image after the tag moved")
	}
	old, err := s.ImageStatus(ctx, a.ID)
	if err != nil || len(old.RepoTags) != 0 {
		t.Errorf("old image keeps tags %v (%v)", old, err)
	}
	if st, _ := s.ImageStatus(ctx, ref); st == nil || st.ID != b.ID {
		t.Errorf("tag resolves to %v, want %s", st, b.ID)
	}
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	push(t, addr+"/library/busybox:1", busybox(t))
	s := newStore(t, Options{})
	tests := []struct {
		name, ref string
		want      error
		msg       string
	}{
		{"unknown tag", addr + "/library/busybox:missing", ErrImagePull, "MANIFEST_UNKNOWN"},
		{"unknown digest", addr + "/library/busybox@sha256:" + strings.Repeat("1", 64), ErrImagePull, ""},
		{"registry down", "127.0.0.1:1/x:1", ErrImagePull, "connection refused"},
		{"invalid name", "UPPER/Case::bad", ErrInvalidImageName, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.PullImage(ctx, tt.ref, nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestPullAuth(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t, testimages.WithBasicAuth("puller", "pa55"))
	img := busybox(t)
	push(t, addr+"/private/bb:1", img, &authn.Basic{Username: "puller", Password: "pa55"})
	id, _ := ids(t, img)
	ref := addr + "/private/bb:1"
	tests := []struct {
		name string
		auth []runtime.RegistryAuth
		ok   bool
	}{
		{"anonymous", nil, false},
		{"wrong password", []runtime.RegistryAuth{{Server: addr, Username: "puller", Password: "nope"}}, false},
		{"other registry only", []runtime.RegistryAuth{{Server: "registry.example.com", Username: "puller", Password: "pa55"}}, false},
		{"username and password", []runtime.RegistryAuth{{Server: addr, Username: "puller", Password: "pa55"}}, true},
		{"auth field with scheme", []runtime.RegistryAuth{{Server: "http://" + addr + "/v2/", Auth: base64.StdEncoding.EncodeToString([]byte("puller:pa55"))}}, true},
		{"bad then good", []runtime.RegistryAuth{
			{Server: addr, Username: "puller", Password: "nope"},
			{Server: addr + "/private", Username: "puller", Password: "pa55"},
		}, true},
		{"path prefix not matching", []runtime.RegistryAuth{{Server: addr + "/public", Username: "puller", Password: "pa55"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Options{})
			got, err := s.PullImage(ctx, ref, tt.auth)
			if tt.ok {
				if err != nil || got.ID != id {
					t.Fatalf("pull: %v %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrImagePull) || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "UNAUTHORIZED") {
				t.Fatalf("err = %v, want ErrImagePull with 401", err)
			}
		})
	}
}

// nonLoopbackIP is an address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatal("this test needs a non-loopback IPv4 address on the machine")
	return ""
}

func TestPullPlainHTTPOnlyWhenAllowed(t *testing.T) {
	ctx := context.Background()
	ip := nonLoopbackIP(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// Seeded over plain HTTP directly with go-containerregistry.
	img := busybox(t)
	r, err := name.ParseReference(addr+"/bb:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}

	strict := newStore(t, Options{})
	_, err = strict.PullImage(ctx, addr+"/bb:1", nil)
	if !errors.Is(err, ErrImagePull) {
		t.Fatalf("plain HTTP pull from %s without --insecure-registries: err = %v, want ErrImagePull", addr, err)
	}
	if !strings.Contains(err.Error(), "HTTP response to HTTPS client") && !strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Fatalf("err = %v, want a TLS failure", err)
	}
	for _, insecure := range []string{addr, ip, ip + "/32"} {
		s := newStore(t, Options{InsecureRegistries: []string{insecure}})
		if _, err := s.PullImage(ctx, addr+"/bb:1", nil); err != nil {
			t.Errorf("insecure %q: %v", insecure, err)
		}
	}
}

func TestRegistryAccess(t *testing.T) {
	ra, err := newRegistryAccess([]string{"reg.internal:5000", "10.1.0.0/16", "plain.example"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.8.9.10:80", true},
		{"[::1]:5000", true},
		{"localhost:5000", true},
		{"localhost", true},
		{"reg.internal:5000", true},
		{"reg.internal:5001", false},
		{"10.1.2.3:5000", true},
		{"10.2.0.1:5000", false},
		{"192.168.1.1:5000", false},
		{"plain.example", true},
		{"plain.example:443", true},
		{"registry.example.com", false},
	}
	for _, tt := range tests {
		if got := ra.insecure(tt.host); got != tt.want {
			t.Errorf("insecure(%s) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if _, err := newRegistryAccess([]string{"bad entry/x y"}); err == nil {
		t.Error("bad insecure-registries entry accepted")
	}
}

func TestConcurrentPull(t *testing.T) {
	ctx := context.Background()
	reqs := &requestLog{}
	addr := startRegistry(t, testimages.WithRequestLog(log.New(reqs, "", 0)))
	base := busybox(t)
	app := withLayer(t, base, "app/data", 512<<10, 7)
	push(t, addr+"/bb:1", base)
	push(t, addr+"/app:1", app)
	s := newStore(t, Options{})

	layers, _ := base.Layers()
	baseLayer, _ := layers[0].Digest()
	before := reqs.count("GET /v2/bb/blobs/" + baseLayer.String())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		ref := addr + "/bb:1"
		if i%2 == 1 {
			ref = addr + "/app:1"
		}
		wg.Go(func() {
			if _, err := s.PullImage(ctx, ref, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The shared busybox layer was downloaded once in all, from one repo or
	// the other, and unpacked once.
	fetched := reqs.count("GET /v2/bb/blobs/"+baseLayer.String()) - before + reqs.count("GET /v2/app/blobs/"+baseLayer.String())
	if fetched != 1 {
		t.Errorf("base layer fetched %d times, want 1", fetched)
	}
	bid, _ := ids(t, base)
	aid, _ := ids(t, app)
	bd, err := s.LayerDirs(bid)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := s.LayerDirs(aid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ad) != 2 || ad[0] != bd[0] {
		t.Errorf("layer dirs not shared: %v vs %v", bd, ad)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Root(), "layers", "sha256")); len(entries) != 2 {
		t.Errorf("%d layer dirs, want 2", len(entries))
	}
}

func TestRestartPersistence(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	img := busybox(t)
	push(t, addr+"/bb:1", img)
	root := filepath.Join(t.TempDir(), "images")
	s, err := New(root, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := s.PullImage(ctx, addr+"/bb:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := s.LayerDirs(pulled.ID)

	// What a crash mid-unpack leaves behind.
	half := filepath.Join(root, "tmp", "layer-123", "fs", "bin")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}

	s2, err := New(root, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.ImageStatus(ctx, addr+"/bb:1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != pulled.ID || !slices.Equal(got.Cmd, []string{"sh"}) || got.Size != pulled.Size || !slices.Equal(got.RepoDigests, pulled.RepoDigests) {
		t.Errorf("after restart %+v, want %+v", got, pulled)
	}
	dirs2, err := s2.LayerDirs(pulled.ID)
	if err != nil || !slices.Equal(dirs, dirs2) {
		t.Errorf("layer dirs %v (%v), want %v", dirs2, err, dirs)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp", "layer-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("crash leftovers not removed: %v", err)
	}

	// A record whose layer vanished is dropped, and a pull repairs it.
	if err := os.RemoveAll(filepath.Dir(dirs[0])); err != nil {
		t.Fatal(err)
	}
	s3, err := New(root, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.ImageStatus(ctx, pulled.ID); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Fatalf("image with a missing layer still listed: %v", err)
	}
	if _, err := s3.PullImage(ctx, addr+"/bb:1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "bin", "busybox")); err != nil {
		t.Errorf("layer not unpacked again: %v", err)
	}
}

func TestRemoveImage(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	base := busybox(t)
	app := withLayer(t, base, "app/data", 1000, 3)
	push(t, addr+"/bb:1", base)
	push(t, addr+"/app:1", app)
	s := newStore(t, Options{})
	b, err := s.PullImage(ctx, addr+"/bb:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.PullImage(ctx, addr+"/app:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	adirs, _ := s.LayerDirs(a.ID)
	if err := s.RemoveImage(ctx, addr+"/app:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImageStatus(ctx, a.ID); !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Errorf("removed image still present: %v", err)
	}
	if _, err := os.Stat(adirs[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app's own layer kept: %v", err)
	}
	if _, err := os.Stat(adirs[0]); err != nil {
		t.Errorf("shared layer removed: %v", err)
	}
	if _, err := os.Stat(s.blobPath(a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app config blob kept: %v", err)
	}
	if _, err := os.Stat(s.blobPath(b.ID)); err != nil {
		t.Errorf("busybox config blob removed: %v", err)
	}
	if err := s.RemoveImage(ctx, a.ID); err != nil {
		t.Errorf("removing a missing image: %v", err)
	}
	if err := s.RemoveImage(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(s.Root(), d)); len(entries) != 0 {
			t.Errorf("%s not empty: %v", d, entries)
		}
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tarTree packs a directory into a tar (names relative to it).
func tarTree(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServerMatches(t *testing.T) {
	tests := []struct {
		server, image string
		want          bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:5000/a/b:1", true},
		{"127.0.0.1:5001", "127.0.0.1:5000/a/b:1", false},
		{"https://index.docker.io/v1/", "busybox", true},
		{"docker.io", "library/busybox:1", true},
		{"registry-1.docker.io", "someone/app", true},
		{"quay.io", "busybox", false},
		{"*.example.com", "reg.example.com/x", true},
		{"*.example.com", "a.reg.example.com/x", false},
		{"*.example.com", "example.com/x", false},
		{"reg.example.com/team", "reg.example.com/team/app:1", true},
		{"reg.example.com/team", "reg.example.com/teamwork/app:1", false},
		{"", "busybox", false},
	}
	for _, tt := range tests {
		r, err := name.ParseReference(tt.image)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := serverMatches(tt.server, r.Context()); got != tt.want {
			t.Errorf("serverMatches(%q, %q) = %v, want %v", tt.server, tt.image, got, tt.want)
		}
	}
	a, _ := serverMatches("reg.example.com", name.MustParseReference("reg.example.com/team/app").Context())
	b, _ := serverMatches("reg.example.com/team", name.MustParseReference("reg.example.com/team/app").Context())
	if b <= a {
		t.Errorf("path-specific credential scores %d, host-wide %d: want it preferred", b, a)
	}
}
