package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"drover.dev/kubelet/app/config"
	"drover.dev/kubelet/internal/image"
	"drover.dev/kubelet/internal/network"
	"drover.dev/kubelet/internal/node"
	"drover.dev/kubelet/internal/pods"
	"drover.dev/kubelet/internal/runtime/runc"
)

// imageGCPeriod is how often unused images are collected (Kubernetes: 5 min).
const imageGCPeriod = 5 * time.Minute

// errNoPodCIDR means the node has no pod CIDR yet, so pods cannot get IPs.
var errNoPodCIDR = errors.New("app: the node has no pod CIDR yet")

// podNetwork is the pod network, created once the node's pod CIDR is known.
type podNetwork struct {
	stateDir string
	lg       *zap.Logger
	n        atomic.Pointer[network.Network]
}

func (p *podNetwork) set(cidr string) error {
	if cur := p.n.Load(); cur != nil {
		if cur.PodCIDR().String() != cidr {
			return fmt.Errorf("app: pod CIDR changed from %s to %s; restart the kubelet", cur.PodCIDR(), cidr)
		}
		return nil
	}
	n, err := network.New(network.Config{PodCIDR: cidr, StateDir: p.stateDir, Logger: p.lg})
	if err != nil {
		return err
	}
	p.n.Store(n)
	return nil
}

func (p *podNetwork) Setup(ctx context.Context, netnsPath, podUID string) (net.IP, error) {
	n := p.n.Load()
	if n == nil {
		return nil, errNoPodCIDR
	}
	return n.Setup(ctx, netnsPath, podUID)
}

func (p *podNetwork) Teardown(ctx context.Context, netnsPath, podUID string) error {
	n := p.n.Load()
	if n == nil {
		return errNoPodCIDR
	}
	return n.Teardown(ctx, netnsPath, podUID)
}

// newRuncRuntime builds the runc runtime with the image store and the pod network.
func newRuncRuntime(cc config.CompletedConfig) (*nodeRuntime, error) {
	o, lg := cc.Options, cc.Logger
	store, err := image.New(filepath.Join(o.RootDir, "images"), image.Options{Logger: lg.Named("images"), InsecureRegistries: o.InsecureRegistries})
	if err != nil {
		return nil, err
	}
	pn := &podNetwork{stateDir: filepath.Join(o.RootDir, "network"), lg: lg.Named("network")}
	rt, err := runc.New(runc.Options{
		RootDir: filepath.Join(o.RootDir, "runtime"),
		Layers:  store,
		Network: pn,
		// One cgroup tree per node, so several nodes on one machine do not mix.
		CgroupParent: filepath.Join("drover", o.NodeName),
		ShimBinary:   startedAs(),
		Logger:       lg.Named("runc"),
	})
	if err != nil {
		return nil, err
	}
	importDir := o.ImageImportDir
	if importDir == "" {
		importDir = filepath.Join(o.RootDir, "import")
	}
	return &nodeRuntime{
		Runtime: rt, images: store,
		machine:         &node.Machine{RootDir: o.RootDir},
		setPodCIDR:      pn.set,
		removeNodeState: rt.RemoveCgroupParent,
		background: func(ctx context.Context, m *pods.Manager) {
			go func() {
				if err := store.WatchImportDir(ctx, importDir); err != nil {
					lg.Error("image import dir", zap.String("dir", importDir), zap.Error(err))
				}
			}()
			every(ctx, imageGCPeriod, func() {
				inUse := map[string]bool{}
				cs, err := rt.ListContainers(ctx, "")
				if err != nil {
					return
				}
				for _, c := range cs {
					inUse[c.ImageRef] = true
				}
				if err := store.GarbageCollect(ctx, inUse, o.ImageGCHighPercent, o.ImageGCLowPercent); err != nil {
					lg.Warn("image garbage collection", zap.Error(err))
				}
			})
		},
		close: func() {},
	}, nil
}

// startedAs is the path this process was started as, keeping a symlink
// unresolved: when the kubelet is a link into the bundled drover binary,
// its shim and `runc init` must be started through the link too, since
// the binary picks the daemon it is by that name. "" (the default: the
// resolved executable) when argv[0] does not name an existing file.
func startedAs() string {
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		if found, err := exec.LookPath(p); err == nil {
			p = found
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return ""
	}
	return abs
}
