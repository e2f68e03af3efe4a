package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// nodeProcesses returns the kubelet of node and the processes of its containers (the
// kubelet's shims and their children): what a machine's failure stops.
func nodeProcesses(t *testing.T, c *framework.Cluster, node string) (kubelet int, containers []int) {
	t.Helper()
	for _, pid := range c.DaemonPIDs(framework.BinKubelet) {
		if strings.Contains(cmdline(pid), "--hostname-override="+node+"\x00") {
			kubelet = pid
		}
	}
	if kubelet == 0 {
		t.Fatalf("no kubelet of %s among drover's children", node)
	}
	for _, pid := range shimPIDs(filepath.Join(c.StateDir, "nodes", node) + "/") {
		containers = append(containers, pid)
		containers = append(containers, descendants(pid)...)
	}
	return kubelet, containers
}

// shimPIDs are the container shims whose container dirs are under root.
func shimPIDs(root string) []int {
	var pids []int
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), "shim\x00"+root) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(b)
}

// descendants returns every process below pid.
func descendants(pid int) []int {
	var out []int
	for _, child := range framework.ChildPIDs(pid, "") {
		out = append(out, child)
		out = append(out, descendants(child)...)
	}
	return out
}

// Scenario 5: a node is lost (its kubelet and its containers freeze, as a machine that
// hangs); it turns NotReady, its pods are replaced on the other nodes after their
// 2s toleration, and the Service keeps answering. The node comes back at the end.
func TestNodeLossReplacesPods(t *testing.T) {
	e := setup(t)
	e.createDeployment(t, webDeployment("web", 3))
	svc := e.createService(t, service("web", "web", corev1.ServiceTypeClusterIP))
	pods := e.waitRunning(t, "web", 3, "")

	// Lose a node that runs a replica but not the client.
	lost := pods[0].Spec.NodeName
	var clientNode string
	for _, n := range e.nodes {
		if n.Name != lost {
			clientNode = n.Name
			break
		}
	}
	e.clientPod(t, "prober", clientNode, fetchLoop(map[string]string{"ip": "http://" + svc.Spec.ClusterIP + "/"}))
	e.waitAnswers(t, "prober", []string{"ip"}, podNames(pods))

	// Healthy nodes stay Ready: were the grace period shorter than the kubelets'
	// lease renewals, nodes would flap and this test would prove nothing.
	for _, n := range e.nodes {
		node, err := e.cs.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !framework.NodeReady(node) {
			t.Fatalf("%s is not Ready before any node was lost", n.Name)
		}
	}
	kubelet, containers := nodeProcesses(t, e.c, lost)
	frozen := append([]int{kubelet}, containers...)
	for _, pid := range frozen {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			for _, pid := range frozen {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(thaw)
	lostAt := time.Now()
	t.Logf("froze %s: kubelet %d and %d container processes", lost, kubelet, len(containers))

	framework.Eventually(t, 60*time.Second, func() error {
		n, err := e.cs.CoreV1().Nodes().Get(context.Background(), lost, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if framework.NodeReady(n) {
			return fmt.Errorf("%s still Ready", lost)
		}
		return nil
	})
	t.Logf("%s NotReady after %s", lost, time.Since(lostAt).Round(100*time.Millisecond))

	// Three live replicas again, none on the lost node, all running.
	var replaced []corev1.Pod
	framework.Eventually(t, 90*time.Second, func() error {
		live, err := e.livePods("web")
		if err != nil {
			return err
		}
		replaced = replaced[:0]
		for _, p := range live {
			if p.Spec.NodeName == lost {
				return fmt.Errorf("pod %s still live on lost node %s", p.Name, lost)
			}
			if p.Status.Phase == corev1.PodRunning {
				replaced = append(replaced, p)
			}
		}
		if len(replaced) != 3 || len(live) != 3 {
			return fmt.Errorf("%d live, %d running replicas off %s; want 3", len(live), len(replaced), lost)
		}
		return nil
	})
	t.Logf("replicas replaced %s after the node was lost", time.Since(lostAt).Round(100*time.Millisecond))
	for _, n := range e.nodes {
		node, err := e.cs.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Name != lost && !framework.NodeReady(node) {
			t.Errorf("%s, which was not lost, is not Ready", n.Name)
		}
	}

	// The Service answers from every replacement.
	e.waitAnswers(t, "prober", []string{"ip"}, podNames(replaced))

	thaw()
	framework.Eventually(t, 60*time.Second, func() error {
		n, err := e.cs.CoreV1().Nodes().Get(context.Background(), lost, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !framework.NodeReady(n) {
			return fmt.Errorf("%s not Ready again", lost)
		}
		return nil
	})
}

// Scenario 6: the apiserver, the scheduler and the controller-manager are killed one
// at a time while a Deployment scales; drover restarts each, and the cluster converges
// to exactly the wanted pods, with no duplicates left over.
func TestControlPlaneRestarts(t *testing.T) {
	e := setup(t)
	k := e.c.Kubectl(t)
	e.createDeployment(t, webDeployment("web", 2))
	e.waitRunning(t, "web", 2, "")

	steps := []struct {
		binary   string
		replicas int
	}{
		{framework.BinAPIServer, 5},
		{framework.BinScheduler, 3},
		{framework.BinControllerManager, 6},
	}
	for _, s := range steps {
		pids := e.c.DaemonPIDs(s.binary)
		if len(pids) == 0 {
			t.Fatalf("no %s among drover's children", s.binary)
		}
		// Scale, then kill mid-way: the change is in flight while the daemon dies.
		framework.Eventually(t, 30*time.Second, func() error {
			r := k.Run("scale", "-n", e.ns, "deployment/web", fmt.Sprintf("--replicas=%d", s.replicas))
			if r.ExitCode != 0 {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %s (%d): %v", s.binary, pid, err)
			}
		}
		framework.Eventually(t, 30*time.Second, func() error {
			now := e.c.DaemonPIDs(s.binary)
			if len(now) == 0 || now[0] == pids[0] {
				return fmt.Errorf("%s not restarted yet", s.binary)
			}
			return nil
		})
		pods := e.waitRunning(t, "web", s.replicas, "")
		t.Logf("killed %s; converged to %d pods: %v", s.binary, len(pods), podNames(pods))
	}

	// Settled: the count stays exact, so no late duplicate appears.
	final := steps[len(steps)-1].replicas
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		live, err := e.livePods("web")
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != final {
			t.Fatalf("%d live pods after converging, want %d: %v", len(live), final, podNames(live))
		}
		rs, err := e.cs.AppsV1().ReplicaSets(e.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs.Items) != 1 {
			t.Fatalf("%d ReplicaSets, want 1", len(rs.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
