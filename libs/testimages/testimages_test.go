package testimages

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func busyboxImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := Busybox()
	if err != nil {
		t.Fatalf("Busybox: %v (tests need Debian's busybox-static: apt-get install busybox-static)", err)
	}
	return img
}

// layerEntries reads the single layer of img into name → header.
func layerEntries(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name] = h
		if h.Typeflag == tar.TypeReg && h.Size < 4096 {
			b, _ := io.ReadAll(tr)
			data[h.Name] = b
		}
	}
	return hdrs, data
}

func TestBusybox(t *testing.T) {
	img := busyboxImage(t)
	// validate.Image trips over mutate's nil-vs-empty annotations; the
	// layer's digests and the config are what matter.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v %d", err, len(layers))
	}
	if err := validate.Layer(layers[0]); err != nil {
		t.Fatalf("validate layer: %v", err)
	}
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s, want OCI manifest", mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cf.Config.Cmd, " ") != "sh" || len(cf.Config.Env) != 1 || !strings.HasPrefix(cf.Config.Env[0], "PATH=") {
		t.Errorf("config Cmd %v Env %v", cf.Config.Cmd, cf.Config.Env)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}

	hdrs, data := layerEntries(t, img)
	for _, applet := range []string{"sh", "httpd", "wget", "sleep", "cat", "echo", "nc", "ls", "ps", "true", "false", "env", "hostname", "id", "ip", "nslookup", "test"} {
		h, ok := hdrs["bin/"+applet]
		if !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v, want symlink to busybox", applet, h)
		}
	}
	bb := hdrs["bin/busybox"]
	if bb == nil || bb.Typeflag != tar.TypeReg || bb.Mode&0o111 == 0 || bb.Size < 100000 {
		t.Fatalf("bin/busybox: %+v", bb)
	}
	if tmp := hdrs["tmp/"]; tmp == nil || tmp.Mode != 0o1777 {
		t.Errorf("tmp/: %+v", tmp)
	}
	if !strings.Contains(string(data["etc/passwd"]), "nobody:x:65534:65534") || !strings.HasPrefix(string(data["etc/passwd"]), "root:x:0:0") {
		t.Errorf("etc/passwd: %q", data["etc/passwd"])
	}
	if !strings.Contains(string(data["etc/group"]), "root:x:0:") {
		t.Errorf("etc/group: %q", data["etc/group"])
	}
}

func TestBusyboxDeterministic(t *testing.T) {
	a := busyboxImage(t)
	b, err := buildBusybox(BusyboxPath) // a fresh build, not the cached one
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("digest differs between builds: %s vs %s", da, db)
	}
}

func TestBusyboxMissingBinary(t *testing.T) {
	_, err := buildBusybox(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, ErrNoBusybox) || !strings.Contains(err.Error(), "apt-get install busybox-static") {
		t.Fatalf("err = %v, want ErrNoBusybox with install hint", err)
	}
}

func TestRegistryPushPull(t *testing.T) {
	ctx := context.Background()
	addr, stop, err := StartRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("addr %q not on loopback", addr)
	}
	img := busyboxImage(t)
	ref := addr + "/library/busybox:1.35"
	if err := Push(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref)
	got, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("pulled digest %s, want %s", d, want)
	}
	byDigest, _ := name.ParseReference(addr + "/library/busybox@" + want.String())
	if _, err := remote.Image(byDigest, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}

	stop()
	if _, err := remote.Head(r, remote.WithContext(ctx)); err == nil {
		t.Fatal("registry still answers after stop")
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	ctx := context.Background()
	addr, stop, err := StartRegistry(ctx, WithBasicAuth("alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	img := busyboxImage(t)
	ref := addr + "/private/busybox:1"

	err = Push(ctx, ref, img)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 401 {
		t.Fatalf("anonymous push: %v, want 401", err)
	}
	if err := Push(ctx, ref, img, &authn.Basic{Username: "alice", Password: "wrong"}); err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	good := &authn.Basic{Username: "alice", Password: "s3cret"}
	if err := Push(ctx, ref, img, good); err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref)
	if _, err := remote.Image(r, remote.WithAuth(good)); err != nil {
		t.Fatalf("authenticated pull: %v", err)
	}
}

func TestPushRefusesNonLoopback(t *testing.T) {
	err := Push(context.Background(), "registry.example.com/x:1", busyboxImage(t))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}

// readTar returns the file contents of a tar by name.
func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func TestWriteOCIArchive(t *testing.T) {
	img := busyboxImage(t)
	path := filepath.Join(t.TempDir(), "busybox.oci.tar")
	if err := WriteOCIArchive(path, "example.com/tools/busybox:1.35", img); err != nil {
		t.Fatal(err)
	}
	files := readTar(t, path)
	if _, ok := files["oci-layout"]; !ok {
		t.Fatal("no oci-layout file")
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != want {
		t.Fatalf("index.json: %+v", idx)
	}
	ann := idx.Manifests[0].Annotations
	if ann[AnnotationRefName] != "1.35" || ann[AnnotationContainerName] != "example.com/tools/busybox:1.35" {
		t.Errorf("annotations %v", ann)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	cd, _ := img.ConfigName()
	for _, h := range []v1.Hash{want, ld, cd} {
		if _, ok := files["blobs/sha256/"+h.Hex]; !ok {
			t.Errorf("blob %s missing", h)
		}
	}
	if err := WriteOCIArchive(path, "not a ref", img); err == nil {
		t.Error("bad ref accepted")
	}
}

func TestWriteDockerArchive(t *testing.T) {
	img := busyboxImage(t)
	path := filepath.Join(t.TempDir(), "busybox.docker.tar")
	if err := WriteDockerArchive(path, "example.com/busybox:2", img); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "example.com/busybox:2" {
		t.Fatalf("manifest.json: %+v", m)
	}
	tag, _ := name.NewTag("example.com/busybox:2")
	got, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, _ := img.ConfigName()
	if c, _ := got.ConfigName(); c != wantCfg {
		t.Fatalf("config %s, want %s", c, wantCfg)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
