package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"go.uber.org/zap"

	"drover.dev/drover/internal/atomicfile"
	"drover.dev/drover/internal/nodenet"
	"drover.dev/drover/internal/statedir"
)

// nodesRecord is what a running cluster's nodes leave on the machine:
// containers and mounts under each kubelet, nftables tables, network
// namespaces, the bridge and its NAT table. drover up writes it before the
// nodes start (again with their pod CIDRs once they are Ready) and removes
// it once it has cleaned them up, so that when
// drover up dies without cleaning up (SIGKILL, a crash), drover down --purge
// can do that clean-up instead.
type nodesRecord struct {
	BinDir    string         `json:"binDir"`
	DroverExe string         `json:"droverExe"`
	Bridge    string         `json:"bridge,omitempty"`
	Network   string         `json:"network,omitempty"`
	Nodes     []recordedNode `json:"nodes"`
}

type recordedNode struct {
	Name string `json:"name"`
	// Index is the node's place on the bridge network (0: host namespace).
	Index int `json:"index,omitempty"`
	// KubeletArgs are the kubelet's arguments; none when it did not run.
	KubeletArgs []string `json:"kubeletArgs,omitempty"`
	// PodCIDR is the node's once it was Ready: the kubelet's clean-up
	// releases pod networks in it.
	PodCIDR string `json:"podCIDR,omitempty"`
	Proxy   bool   `json:"proxy,omitempty"`
}

func writeNodesRecord(cfg *upConfig, nodes []*localNode) error {
	rec := nodesRecord{BinDir: cfg.binDir, DroverExe: cfg.droverExe}
	if cfg.net != nil {
		rec.Bridge, rec.Network = cfg.Bridge, cfg.NodeNetwork
	}
	for i, n := range nodes {
		rn := recordedNode{Name: n.name, PodCIDR: n.podCIDR, Proxy: n.proxy.Name != ""}
		if n.inNetNS() {
			rn.Index = i + 1
		}
		if n.kubelet.Name != "" {
			rn.KubeletArgs = n.kubeletArgs
		}
		rec.Nodes = append(rec.Nodes, rn)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(cfg.dir.NodesRecordFile(), data, 0o600)
}

// cleanupRecordedNodes cleans up what a dead drover up's nodes left behind,
// as drover up would have: the nodes, then the NAT table, then the bridge.
// It does nothing without a record.
func cleanupRecordedNodes(dir statedir.Dir, lg *zap.Logger) error {
	data, err := os.ReadFile(dir.NodesRecordFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec nodesRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("%s: %w", dir.NodesRecordFile(), err)
	}
	cfg := &upConfig{dir: dir, binDir: rec.BinDir, droverExe: rec.DroverExe}
	if rec.Bridge != "" {
		network, err := netip.ParsePrefix(rec.Network)
		if err != nil {
			return fmt.Errorf("%s: %w", dir.NodesRecordFile(), err)
		}
		if cfg.net, err = nodenet.New(nodenet.Config{Bridge: rec.Bridge, Network: network, ClusterID: nodenet.ClusterID(dir.Root), Logger: lg}); err != nil {
			return err
		}
	}
	var nodes []*localNode
	for _, rn := range rec.Nodes {
		n := &localNode{name: rn.Name, kubeletArgs: rn.KubeletArgs, podCIDR: rn.PodCIDR}
		if rn.Index > 0 && cfg.net != nil {
			if n.place, err = cfg.net.Node(rn.Index); err != nil {
				return err
			}
		}
		// cleanupNode runs a daemon's clean-up when it had a name.
		if len(rn.KubeletArgs) > 0 {
			n.kubelet.Name = "kubelet"
		}
		if rn.Proxy {
			n.proxy.Name = "proxy"
		}
		nodes = append(nodes, n)
	}
	lg.Info("cleaning up the nodes of a drover up that did not stop cleanly", zap.Int("nodes", len(nodes)))
	// The record stays until everything is gone, so that a failed step can
	// be tried again; until then the state directory stays too (it holds
	// the containers' state and mounts).
	if !cleanupNodes(cfg, nodes, lg) {
		return errors.New("some nodes could not be cleaned up (see the warnings above)")
	}
	if cfg.net != nil {
		if err := cfg.net.TeardownNAT(); err != nil {
			return fmt.Errorf("remove the nodes' NAT table: %w", err)
		}
		if err := cfg.net.TeardownBridge(); err != nil {
			return fmt.Errorf("remove the node bridge: %w", err)
		}
	}
	return os.Remove(dir.NodesRecordFile())
}
