package framework

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

var (
	binDirFlag  = flag.String("bin-dir", "", "directory with the drover, drover-apiserver, kubectl and helm binaries; missing ones are built into it (default <repo>/bin)")
	rebuildFlag = flag.Bool("rebuild", false, "rebuild drover and drover-apiserver even when -bin-dir has them")
)

// Binary names in the bin dir.
const (
	BinDrover    = "drover"
	BinAPIServer = "drover-apiserver"
	BinKubectl   = "kubectl"
	BinHelm      = "helm"

	BinControllerManager = "drover-controller-manager"
	BinScheduler         = "drover-scheduler"
	BinKubelet           = "drover-kubelet"
	BinProxy             = "drover-proxy"
	BinDNS               = "drover-dns"
)

// NodeBinaries are what a cluster with nodes needs besides drover and the apiserver.
var NodeBinaries = []string{BinControllerManager, BinScheduler, BinKubelet}

// ClusterBinaries are what a whole cluster (every component of drover up) needs
// besides drover and the apiserver.
var ClusterBinaries = []string{BinControllerManager, BinScheduler, BinKubelet, BinProxy, BinDNS}

// versionLDFlags make the kubectl built here report v1.37.2, as a released kubectl does.
var versionLDFlags = strings.Join([]string{
	"-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
	"-X k8s.io/client-go/pkg/version.gitMajor=1",
	"-X k8s.io/client-go/pkg/version.gitMinor=37",
	"-X k8s.io/component-base/version.gitVersion=v1.37.2",
	"-X k8s.io/component-base/version.gitMajor=1",
	"-X k8s.io/component-base/version.gitMinor=37",
}, " ")

// helmModule is the helm release the tests install; it is the one CLIENT-FACTS describes.
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

// Binaries are the paths of the binaries a test package uses.
type Binaries struct {
	Dir string
}

// Path returns the path of the named binary in the bin dir.
func (b *Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

// RepoRoot returns the directory holding go.work, found upwards from the working
// directory (go test runs in the package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("framework: no go.work above the working directory")
		}
		dir = parent
	}
}

// EnsureBinaries makes sure the named binaries are in the bin dir, building those that
// are missing (and drover and drover-apiserver when -rebuild is set). Packages that run
// at the same time take turns through a lock file in the bin dir.
func EnsureBinaries(names ...string) (*Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := *binDirFlag
	if dir == "" {
		dir = filepath.Join(root, "bin")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".e2e-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("framework: lock bin dir: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	b := &Binaries{Dir: dir}
	for _, name := range names {
		path := b.Path(name)
		rebuild := *rebuildFlag && (name == BinDrover || name == BinAPIServer) && !rebuiltByUs(path)
		if _, err := os.Stat(path); err == nil && !rebuild {
			continue
		}
		start := time.Now()
		fmt.Fprintf(os.Stderr, "e2e: building %s into %s\n", name, dir)
		if err := build(root, dir, name); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", name, time.Since(start).Round(time.Second))
	}
	return b, nil
}

// rebuiltByUs tells whether another test package of this `go test` run already rebuilt
// the binary, so that -rebuild builds each binary once per run: `go test` starts every
// package's test binary from the same parent process.
func rebuiltByUs(path string) bool {
	b, err := os.ReadFile(path + ".e2e-built-by")
	return err == nil && strings.TrimSpace(string(b)) == fmt.Sprint(os.Getppid())
}

func build(root, dir, name string) error {
	out := filepath.Join(dir, name)
	tmp := out + ".tmp"
	var cmd *exec.Cmd
	switch name {
	case BinDrover:
		// drover bundles the kubelet: cgo (libcontainer) and libseccomp.
		cmd = exec.Command("go", "build", "-tags", "seccomp", "-o", tmp, "./services/drover")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	case BinAPIServer:
		cmd = exec.Command("go", "build", "-o", tmp, "./services/apiserver")
	case BinControllerManager, BinScheduler, BinProxy, BinDNS:
		cmd = exec.Command("go", "build", "-o", tmp, "./services/"+strings.TrimPrefix(name, "drover-"))
	case BinKubelet:
		// libcontainer needs cgo; seccomp needs libseccomp.
		cmd = exec.Command("go", "build", "-tags", "seccomp", "-o", tmp, "./services/kubelet")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	case BinKubectl:
		cmd = exec.Command("go", "build", "-ldflags", versionLDFlags, "-o", tmp, "./e2e/cmd/kubectl")
	case BinHelm:
		// go install of a module at a version ignores the workspace; GOBIN is the bin dir.
		cmd = exec.Command("go", "install", helmModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off")
		tmp = out
	default:
		return fmt.Errorf("framework: no recipe to build %q", name)
	}
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("framework: build %s: %w\n%s", name, err, out)
	}
	if tmp != out {
		// Rename so that a concurrent reader never sees a half-written binary.
		if err := os.Rename(tmp, out); err != nil {
			return err
		}
	}
	if *rebuildFlag && (name == BinDrover || name == BinAPIServer) {
		_ = os.WriteFile(out+".e2e-built-by", []byte(fmt.Sprint(os.Getppid())), 0o644)
	}
	return nil
}
