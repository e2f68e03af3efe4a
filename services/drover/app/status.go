package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"drover.dev/drover/app/options"
)

// nodeReadyTimeout bounds the wait for every node to be Ready once its
// daemons are.
const nodeReadyTimeout = 2 * time.Minute

// startStatus prints one line per step while the cluster starts, with the
// time since drover started, so a person sees what is up and what it waits for.
type startStatus struct {
	out   io.Writer
	start time.Time
}

func newStartStatus(out io.Writer) *startStatus {
	return &startStatus{out: out, start: time.Now()}
}

// done reports a step that finished.
func (s *startStatus) done(what, detail string) {
	if detail != "" {
		detail = " (" + detail + ")"
	}
	fmt.Fprintf(s.out, "drover: %6.2fs %-20s up%s\n", time.Since(s.start).Seconds(), what, detail)
}

// waiting reports what a step still waits for.
func (s *startStatus) waiting(what, detail string) {
	fmt.Fprintf(s.out, "drover: %6.2fs %-20s waiting: %s\n", time.Since(s.start).Seconds(), what, detail)
}

// waitNodesReady waits until every node reports Ready, printing each as it
// does and, every few seconds, the ones still not Ready.
func waitNodesReady(ctx context.Context, client kubernetes.Interface, nodes []*localNode, status *startStatus) error {
	ctx, cancel := context.WithTimeout(ctx, nodeReadyTimeout)
	defer cancel()
	pending := map[string]bool{}
	byName := map[string]*localNode{}
	for _, n := range nodes {
		pending[n.name] = true
		byName[n.name] = n
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	for len(pending) > 0 {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, n := range list.Items {
				if pending[n.Name] && nodeReady(&n) {
					delete(pending, n.Name)
					byName[n.Name].podCIDR = n.Spec.PodCIDR
					status.done(n.Name, "Ready, pod CIDR "+n.Spec.PodCIDR)
				}
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			status.waiting("nodes", strings.Join(sortedKeys(pending), ", ")+" not Ready yet")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not Ready within %s: %s (see the kubelet logs)", nodeReadyTimeout, strings.Join(sortedKeys(pending), ", "))
		case <-tick.C:
		}
	}
	return nil
}

// nodeReady is Ready with a pod CIDR: only then can pods run on it.
func nodeReady(n *corev1.Node) bool {
	if n.Spec.PodCIDR == "" {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// adminClient is drover's own client of the cluster, with the admin
// kubeconfig.
func adminClient(cfg *upConfig) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.dir.KubeconfigFile())
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(rc)
}

// checkBinaries tells at once, and in words, which binary is missing.
func checkBinaries(cfg *upConfig) error {
	need := []string{APIServerBinary}
	for _, c := range []struct {
		component, binary string
	}{
		{options.ComponentControllerManager, ControllerManagerBinary},
		{options.ComponentScheduler, SchedulerBinary},
		{options.ComponentDNS, DNSBinary},
		{options.ComponentKubelet, KubeletBinary},
		{options.ComponentProxy, ProxyBinary},
	} {
		if cfg.Runs(c.component) {
			need = append(need, c.binary)
		}
	}
	for _, b := range need {
		if _, err := os.Stat(filepath.Join(cfg.binDir, b)); err != nil {
			return fmt.Errorf("%s not found in %s (build it with go tool task build, point --bin-dir at its directory, or leave its component out of --components): %w", b, cfg.binDir, err)
		}
	}
	return nil
}
