package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"drover.dev/drover/app/options"
	"drover.dev/drover/internal/nodenet"
	"drover.dev/drover/internal/pki"
	"drover.dev/drover/internal/supervisor"
)

// Ports of a node in a network namespace of its own: it has the whole port
// space, so it uses the kubelet's usual ones.
const (
	nodeKubeletPort       = 10250
	nodeKubeletHealthPort = 10248
	nodeProxyHealthPort   = 10256
	// nodeCleanupTimeout bounds one node's clean-up after it stopped.
	nodeCleanupTimeout = time.Minute
)

// localNode is one node of a local cluster: a kubelet and a proxy, in the
// host's network namespace (a one-node cluster) or in one of its own.
type localNode struct {
	name string
	// place is the node's address and namespace on the bridge; its zero
	// value means the host's namespace.
	place nodenet.Node
	// kubelet and proxy are the node's daemons; a zero Name means the
	// component does not run.
	kubelet, proxy supervisor.Daemon
	// kubeletArgs and proxyArgs are the daemons' own arguments, which the
	// clean-up runs repeat.
	kubeletArgs, proxyArgs []string
	// podCIDR is the node's once it was Ready: its clean-up needs it to
	// release pod addresses, and the apiserver may be gone by then.
	podCIDR string
}

// inNetNS reports whether the node has a network namespace of its own.
func (n *localNode) inNetNS() bool { return n.place.NetNS != "" }

// localNodes describes the cluster's nodes: one in the host's namespace, or
// cfg.Nodes each in its own.
func localNodes(cfg *upConfig, certs *pki.Bundle) ([]*localNode, error) {
	plain := &http.Client{Timeout: readyzTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var nodes []*localNode
	for i := 1; i <= cfg.Nodes; i++ {
		n := &localNode{name: fmt.Sprintf("node-%d", i)}
		suffix := ""
		var kubeletHealth, proxyHealth string
		kubeletArgs := []string{
			"--kubeconfig=" + cfg.dir.KubeconfigFile(),
			"--hostname-override=" + n.name,
			"--root-dir=" + cfg.dir.NodeDir(n.name),
			"--runtime=" + cfg.NodeRuntime,
			"--client-ca-file=" + certs.CACert,
			"--nats-url=" + cfg.natsURL,
		}
		proxyArgs := []string{
			"--kubeconfig=" + cfg.dir.KubeconfigFile(),
			"--hostname-override=" + n.name,
			"--cluster-cidr=" + ClusterCIDR,
			"--nats-url=" + cfg.natsURL,
		}
		if cfg.net == nil {
			health, err := freePort()
			if err != nil {
				return nil, err
			}
			api, err := preferredPort(nodeKubeletPort)
			if err != nil {
				return nil, err
			}
			kubeletArgs = append(kubeletArgs, "--port="+strconv.Itoa(api), "--healthz-port="+strconv.Itoa(health))
			kubeletHealth = "127.0.0.1:" + strconv.Itoa(health)
			ph, err := freePort()
			if err != nil {
				return nil, err
			}
			proxyHealth = "127.0.0.1:" + strconv.Itoa(ph)
		} else {
			place, err := cfg.net.Node(i)
			if err != nil {
				return nil, err
			}
			n.place = place
			suffix = "-" + n.name
			ip := place.IP.String()
			// Health listeners on the node's address: drover reaches it over
			// the bridge; the node's loopback is out of its reach.
			kubeletHealth = net.JoinHostPort(ip, strconv.Itoa(nodeKubeletHealthPort))
			kubeletArgs = append(kubeletArgs,
				"--node-ip="+ip,
				"--port="+strconv.Itoa(nodeKubeletPort),
				"--healthz-bind-address="+ip,
				"--healthz-port="+strconv.Itoa(nodeKubeletHealthPort),
			)
			// The proxy runs in the host's namespace and programs the node's
			// through --netns; its health listener is on the host.
			ph, err := freePort()
			if err != nil {
				return nil, err
			}
			proxyHealth = "127.0.0.1:" + strconv.Itoa(ph)
			proxyArgs = append(proxyArgs, "--netns="+place.NetNS)
		}
		proxyArgs = append(proxyArgs, "--health-addr="+proxyHealth)
		kubeletArgs = append(kubeletArgs, cfg.ExtraArgs(options.ComponentKubelet)...)
		proxyArgs = append(proxyArgs, cfg.ExtraArgs(options.ComponentProxy)...)
		n.kubeletArgs, n.proxyArgs = kubeletArgs, proxyArgs

		if cfg.Runs(options.ComponentKubelet) {
			binary, args := filepath.Join(cfg.binDir, KubeletBinary), kubeletArgs
			if n.inNetNS() {
				binary, args = cfg.droverExe, netnsExecArgs(n.place.NetNS, binary, args)
			}
			n.kubelet = supervisor.Daemon{
				Name:   "kubelet" + suffix,
				Binary: binary,
				Args:   args,
				Ready:  supervisor.HTTPGetCheck(plain, "http://"+kubeletHealth+"/readyz"),
			}
		}
		if cfg.Runs(options.ComponentProxy) {
			n.proxy = supervisor.Daemon{
				Name:   "proxy" + suffix,
				Binary: filepath.Join(cfg.binDir, ProxyBinary),
				Args:   proxyArgs,
				// /healthz: /readyz waits for a first sync, which needs the
				// Node's pod CIDR; the proxy keeps retrying on its own.
				Ready: supervisor.HTTPGetCheck(plain, "http://"+proxyHealth+"/healthz"),
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// netnsExecArgs are drover's arguments that run binary in a namespace.
func netnsExecArgs(netnsPath, binary string, args []string) []string {
	return append([]string{"netns-exec", netnsPath, "--", binary}, args...)
}

// cleanupNodes cleans every node up, all at once, and reports whether
// every step succeeded.
func cleanupNodes(cfg *upConfig, nodes []*localNode, lg *zap.Logger) bool {
	var wg sync.WaitGroup
	var failed atomic.Bool
	for _, n := range nodes {
		wg.Go(func() {
			if !cleanupNode(cfg, n, lg) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	return !failed.Load()
}

// cleanupNode runs once the node's daemons stopped: the kubelet once more
// with --cleanup (containers, pod networks and their mounts go), the proxy
// with --cleanup (its nftables tables and routes go), then the node's
// namespace and veth pair. Every step runs even when one before failed
// (what can go, goes); it reports whether all succeeded, so that drover
// down --purge can try again. Steps are safe to repeat: without the
// namespace, the kubelet's clean-up runs in the host's and the proxy's is
// skipped (its tables went with the namespace).
func cleanupNode(cfg *upConfig, n *localNode, lg *zap.Logger) bool {
	ok := true
	run := func(what, binary string, args []string) {
		ctx, cancel := context.WithTimeout(context.Background(), nodeCleanupTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
		if err != nil {
			lg.Warn("node cleanup failed", zap.String("node", n.name), zap.String("what", what), zap.Error(err), zap.String("output", string(out)))
			ok = false
			return
		}
		lg.Debug("node cleaned up", zap.String("node", n.name), zap.String("what", what))
	}
	inNetNS := n.inNetNS() && nodenet.NetNSExists(n.place.NetNS)
	if n.kubelet.Name != "" {
		binary, args := filepath.Join(cfg.binDir, KubeletBinary), append(append([]string{}, n.kubeletArgs...), "--cleanup", "--log-level=warn")
		if n.podCIDR != "" {
			args = append(args, "--pod-cidr="+n.podCIDR)
		}
		if inNetNS {
			binary, args = cfg.droverExe, netnsExecArgs(n.place.NetNS, binary, args)
		}
		run("containers and pod networks", binary, args)
	}
	if n.proxy.Name != "" && (inNetNS || !n.inNetNS()) {
		args := []string{"--cleanup", "--log-level=warn"}
		if inNetNS {
			args = append(args, "--netns="+n.place.NetNS)
		}
		run("nftables tables and routes", filepath.Join(cfg.binDir, ProxyBinary), args)
	}
	if n.inNetNS() {
		if err := cfg.net.TeardownNode(n.place); err != nil {
			lg.Warn("failed to remove node network namespace", zap.String("node", n.name), zap.Error(err))
			ok = false
		}
	}
	if ok {
		lg.Info("node cleaned up: no containers, pod networks or proxy rules left", zap.String("node", n.name))
	}
	return ok
}
