// Package testimages builds OCI images locally and serves or archives them,
// because this machine (and CI) reaches no container registry: tests and the
// drover CLI get a busybox image from Debian's busybox-static, an in-process
// registry on loopback, and OCI / docker-save archives for offline import.
package testimages

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static package installs the binary.
const BusyboxPath = "/bin/busybox"

// ErrNoBusybox means busybox-static is not installed on this machine.
var ErrNoBusybox = fmt.Errorf("testimages: %s not found or not runnable; install it with `apt-get install busybox-static`", BusyboxPath)

// epoch is the timestamp of every file and of the config, so that the image
// digest depends only on the busybox binary.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var busybox struct {
	once sync.Once
	img  v1.Image
	err  error
}

// Busybox returns an OCI image holding Debian's static busybox with a
// symlink per applet in /bin, /etc/passwd and /etc/group (root, nobody) and
// /tmp. Its config runs `sh` with PATH set. The same machine always gets the
// same digest; the image is built once per process.
func Busybox() (v1.Image, error) {
	busybox.once.Do(func() {
		busybox.img, busybox.err = buildBusybox(BusyboxPath)
	})
	return busybox.img, busybox.err
}

func buildBusybox(bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBusybox, err)
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: busybox --list: %v", ErrNoBusybox, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)

	files := []File{
		{Name: "bin/", Mode: 0o755},
		{Name: "etc/", Mode: 0o755},
		{Name: "root/", Mode: 0o700},
		{Name: "tmp/", Mode: 0o1777},
		{Name: "var/", Mode: 0o755},
		{Name: "bin/busybox", Mode: 0o755, Data: data},
		{Name: "etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Name: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n")},
	}
	for _, a := range applets {
		if a == "busybox" || strings.ContainsAny(a, "/ ") {
			continue
		}
		files = append(files, File{Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
	}
	layer, err := LayerFromFiles(files)
	if err != nil {
		return nil, err
	}
	return ImageFromLayers(v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}, layer)
}

// File is one entry of a layer built by LayerFromFiles. A Name ending in "/"
// is a directory; a Linkname makes a symlink (or a hardlink when Hardlink is
// set); a Name whose base starts with ".wh." is an OCI whiteout.
type File struct {
	Name     string
	Mode     int64
	Data     []byte
	Linkname string
	Hardlink bool
	UID, GID int
	// Typeflag overrides the type (e.g. tar.TypeChar, tar.TypeFifo).
	Typeflag byte
	// Xattrs are written as PAX SCHILY.xattr records.
	Xattrs map[string]string
}

// LayerFromFiles builds an OCI (gzip) layer from files, in the order given,
// with fixed timestamps so that the digest depends only on the content.
func LayerFromFiles(files []File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    f.Name,
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		switch {
		case f.Typeflag != 0:
			hdr.Typeflag = f.Typeflag
		case strings.HasSuffix(f.Name, "/"):
			hdr.Typeflag = tar.TypeDir
		case f.Linkname != "" && f.Hardlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, f.Linkname
		case f.Linkname != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Linkname
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		}
		if len(f.Xattrs) > 0 {
			hdr.PAXRecords = map[string]string{}
			for k, v := range f.Xattrs {
				hdr.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("testimages: layer entry %q: %w", f.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("testimages: layer entry %q: %w", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("testimages: layer: %w", err)
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// ImageFromLayers makes an OCI image for this machine's architecture with
// cfg as its config and layers bottom-first, created at a fixed time.
func ImageFromLayers(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := make([]mutate.Addendum, 0, len(layers))
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "drover testimages"},
		})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("testimages: append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("testimages: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = goruntime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("testimages: set config: %w", err)
	}
	return img, nil
}
