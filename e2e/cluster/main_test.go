// Package cluster checks a whole drover cluster end to end: `drover up --nodes 3`,
// each node a kubelet and a proxy in a network namespace of its own on a bridge, with
// the controller-manager, the scheduler and cluster DNS, driven with kubectl and
// client-go. Images are imported into every node with `drover image import`: nodes in
// their own namespaces cannot reach a registry on the host's loopback.
package cluster

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"drover.dev/e2e/framework"
	"drover.dev/libs/testimages"
)

// Images every node has once setup ran: the same busybox under two tags, so that a
// rolling update has an image to move to.
const (
	image   = "drover.dev/test/busybox:1.35"
	imageV2 = "drover.dev/test/busybox:1.35-v2"
)

// numNodes is how many nodes the suite's cluster has.
const numNodes = 3

func TestMain(m *testing.M) {
	framework.Main(m, framework.MainOptions{
		Cluster:  true,
		Binaries: append([]string{framework.BinKubectl}, framework.ClusterBinaries...),
		ClusterOptions: framework.ClusterOptions{
			Components: []string{"apiserver", "controller-manager", "scheduler", "dns", "kubelet", "proxy"},
			ExtraArgs: []string{
				"--nodes", fmt.Sprint(numNodes),
				// Node loss: a node that stops renewing its lease is NotReady after
				// 15s (kubelets renew every 10s); its pods that tolerate that for
				// 2s are evicted then.
				"--daemon-arg", "controller-manager=--node-monitor-grace-period=15s",
				"--daemon-arg", "controller-manager=--node-monitor-period=1s",
			},
		},
	})
}

var (
	importOnce sync.Once
	importErr  error
)

// importImages writes the test images as OCI archives into a temp dir of the first
// test that needs them and imports them into every node, once per run.
func importImages(t testing.TB, c *framework.Cluster) {
	t.Helper()
	importOnce.Do(func() {
		var archives []string
		if archives, importErr = imageArchives(t.TempDir()); importErr == nil {
			c.ImportImages(t, archives...)
		}
	})
	if importErr != nil {
		t.Fatal(importErr)
	}
}

// writeImageArchives writes the test images as OCI archives into a temp dir.
func writeImageArchives(t testing.TB) []string {
	t.Helper()
	archives, err := imageArchives(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return archives
}

func imageArchives(dir string) ([]string, error) {
	img, err := testimages.Busybox()
	if err != nil {
		return nil, err
	}
	var archives []string
	for name, ref := range map[string]string{"busybox.tar": image, "busybox-v2.tar": imageV2} {
		path := filepath.Join(dir, name)
		if err := testimages.WriteOCIArchive(path, ref, img); err != nil {
			return nil, err
		}
		archives = append(archives, path)
	}
	return archives, nil
}
