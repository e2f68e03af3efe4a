package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// imageImportTimeout bounds how long the kubelets take to import an archive.
const imageImportTimeout = 2 * time.Minute

// WaitNodesReady waits until n nodes are Ready with a pod CIDR and returns them sorted
// by name.
func WaitNodesReady(t testing.TB, cs kubernetes.Interface, n int, timeout time.Duration) []corev1.Node {
	t.Helper()
	var ready []corev1.Node
	Eventually(t, timeout, func() error {
		list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready = ready[:0]
		for _, node := range list.Items {
			if NodeReady(&node) && node.Spec.PodCIDR != "" {
				ready = append(ready, node)
			}
		}
		if len(ready) < n {
			return fmt.Errorf("%d of %d nodes Ready with a pod CIDR", len(ready), n)
		}
		return nil
	})
	sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
	return ready
}

// NodeReady reports the node's Ready condition.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeInternalIP returns the node's InternalIP, "" when it has none.
func NodeInternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// ImportImages imports image archives into every node of the cluster with `drover image
// import` and waits until each node's kubelet has imported them (moved them to its
// import/imported directory).
func (c *Cluster) ImportImages(t testing.TB, archives ...string) {
	t.Helper()
	c.DroverCLI(t).MustRun(append([]string{"image", "import", "--state-dir", c.StateDir}, archives...)...)
	nodes, err := filepath.Glob(filepath.Join(c.StateDir, "nodes", "*"))
	if err != nil || len(nodes) == 0 {
		t.Fatalf("framework: no nodes under %s: %v", c.StateDir, err)
	}
	Eventually(t, imageImportTimeout, func() error {
		var missing []string
		for _, n := range nodes {
			for _, a := range archives {
				if _, err := os.Stat(filepath.Join(n, "import", "imported", filepath.Base(a))); err != nil {
					missing = append(missing, filepath.Base(n)+"/"+filepath.Base(a))
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not imported yet: %s", strings.Join(missing, ", "))
		}
		return nil
	})
}

// DaemonPIDs returns the pids of the daemons `drover up` runs as its children whose
// command name starts with binary (e.g. BinKubelet: every node's kubelet).
func (c *Cluster) DaemonPIDs(binary string) []int {
	return ChildPIDs(c.Drover.Pid(), binary)
}
