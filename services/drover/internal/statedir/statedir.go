// Package statedir names the files a local drover cluster keeps in its state
// directory (.drover by default), so that `drover up`, `drover down` and
// tests agree on them.
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Entries of a state directory.
const (
	EtcdDataDir    = "etcd"
	EtcdURLFile    = "etcd.url"
	PKIDir         = "pki"
	LogsDir        = "logs"
	KubeconfigFile = "kubeconfig"
	PIDFile        = "drover.pid"
	NATSStoreDir   = "nats"
	NATSURLFile    = "nats.url"
	NodesDir       = "nodes"
	// NodesRecordFile says what the nodes left on the machine, for a
	// clean-up by drover down when drover up died before doing it.
	NodesRecordFile = "nodes.json"
)

// entries are what a state directory may hold; anything else means the
// directory is not one.
var entries = []string{EtcdDataDir, EtcdURLFile, PKIDir, LogsDir, KubeconfigFile, PIDFile, NATSStoreDir, NATSURLFile, NodesDir, NodesRecordFile}

// ErrNotStateDir is returned for a directory that holds files drover did not
// put there.
var ErrNotStateDir = errors.New("statedir: not a drover state directory")

// Dir is a state directory.
type Dir struct {
	// Root is an absolute path.
	Root string
}

// New returns the state directory at path, made absolute.
func New(path string) (Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Dir{}, fmt.Errorf("statedir: %w", err)
	}
	return Dir{Root: abs}, nil
}

// Paths of the entries.
func (d Dir) EtcdDataDir() string    { return filepath.Join(d.Root, EtcdDataDir) }
func (d Dir) EtcdURLFile() string    { return filepath.Join(d.Root, EtcdURLFile) }
func (d Dir) PKIDir() string         { return filepath.Join(d.Root, PKIDir) }
func (d Dir) LogsDir() string        { return filepath.Join(d.Root, LogsDir) }
func (d Dir) KubeconfigFile() string { return filepath.Join(d.Root, KubeconfigFile) }
func (d Dir) PIDFile() string        { return filepath.Join(d.Root, PIDFile) }
func (d Dir) NATSStoreDir() string   { return filepath.Join(d.Root, NATSStoreDir) }
func (d Dir) NATSURLFile() string    { return filepath.Join(d.Root, NATSURLFile) }
func (d Dir) NodesRecordFile() string {
	return filepath.Join(d.Root, NodesRecordFile)
}

// NodeDir is the kubelet root dir of a local node.
func (d Dir) NodeDir(node string) string { return filepath.Join(d.Root, NodesDir, node) }

// Create makes the directory, readable by its owner only: it holds keys.
func (d Dir) Create() error {
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}

// CheckOwned returns ErrNotStateDir when the directory holds anything that
// drover does not write, so that removing it cannot take a user's files
// with it. A directory that does not exist passes.
func (d Dir) CheckOwned() error {
	list, err := os.ReadDir(d.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	for _, e := range list {
		if !isEntry(e.Name()) {
			return fmt.Errorf("%w: %s holds %q", ErrNotStateDir, d.Root, e.Name())
		}
	}
	return nil
}

func isEntry(name string) bool {
	// Dot-prefixed temporary files are left by an atomic write that was
	// interrupted.
	return slices.Contains(entries, name) || strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp")
}
