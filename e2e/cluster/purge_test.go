package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// drover up killed with SIGKILL stops no container and removes no namespace;
// drover down --purge afterwards must clean up everything the nodes left: their
// containers, mounts, network namespaces, the bridge and its NAT table.
func TestDownPurgeAfterKill(t *testing.T) {
	const bridge = "drvkill0"
	dir, err := os.MkdirTemp("", "drover-kill-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := framework.StartCluster(framework.SharedBinaries(t), dir, framework.ClusterOptions{
		Components: []string{"apiserver", "controller-manager", "kubelet", "proxy"},
		ExtraArgs:  []string{"--nodes", "2", "--bridge", bridge, "--node-network", "172.31.8.0/24"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever happened, leave nothing behind (a state dir that drover
		// down could not delete is kept for a look at what is left).
		_ = c.Drover.Kill()
		_ = os.Remove(c.Drover.LogPath)
		_ = exec.Command(c.Bins.Path(framework.BinDrover), "down", "--purge", "--state-dir", dir).Run()
	})
	cs := c.Clientset(t)
	framework.WaitNodesReady(t, cs, 2, time.Minute)
	c.ImportImages(t, writeImageArchives(t)...)
	for _, node := range []string{"node-1", "node-2"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sleeper-" + node},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
				Name: "sleep", Image: image, Command: []string{"sleep", "3600"},
			}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var uids []string
	framework.Eventually(t, podsTimeout, func() error {
		uids = uids[:0]
		for _, node := range []string{"node-1", "node-2"} {
			p, err := cs.CoreV1().Pods("default").Get(context.Background(), "sleeper-"+node, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("%s is %s", p.Name, p.Status.Phase)
			}
			uids = append(uids, string(p.UID))
		}
		return nil
	})
	if n := len(leftovers(t, dir, bridge, uids)); n == 0 {
		t.Fatal("a running cluster shows nothing the test could see left behind")
	}

	// Only drover itself: its daemons die with it, the containers' shims do not.
	if err := syscall.Kill(c.Drover.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Drover.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("drover did not exit after SIGKILL")
	}
	if len(shims(dir)) == 0 {
		t.Fatal("no container survived drover's SIGKILL: the test would prove nothing")
	}

	// drover down deletes only what drover put in the state dir; the suite's
	// log of drover up is not.
	if err := os.Rename(c.Drover.LogPath, filepath.Join(t.TempDir(), "drover-up.log")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(c.Bins.Path(framework.BinDrover), "down", "--purge", "--state-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("drover down --purge: %v\n%s", err, out)
	}
	if left := leftovers(t, dir, bridge, uids); len(left) > 0 {
		t.Fatalf("left behind after drover down --purge:\n%s\ndrover down said:\n%s", strings.Join(left, "\n"), out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("state dir %s still exists", dir)
	}
}

// shims are the container shims of the cluster in dir.
func shims(dir string) []string {
	var out []string
	for _, pid := range shimPIDs(filepath.Join(dir, "nodes") + "/") {
		out = append(out, fmt.Sprintf("shim %d: %s", pid, strings.ReplaceAll(cmdline(pid), "\x00", " ")))
	}
	return out
}

// leftovers lists what the cluster in dir has on the machine: container
// shims, the cgroups of the pods with these uids, mounts under dir, the
// nodes' network namespaces, the bridge and nftables tables named after it.
func leftovers(t *testing.T, dir, bridge string, podUIDs []string) []string {
	t.Helper()
	left := shims(dir)
	for _, uid := range podUIDs {
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/drover/*/pod" + uid)
		for _, cg := range cgroups {
			left = append(left, "cgroup: "+cg)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir+"/") {
			left = append(left, "mount: "+line)
		}
	}
	sum := sha256.Sum256([]byte(dir))
	netns, _ := filepath.Glob("/run/netns/drover-" + hex.EncodeToString(sum[:])[:6] + "-*")
	for _, ns := range netns {
		left = append(left, "netns: "+ns)
	}
	if _, err := os.Stat("/sys/class/net/" + bridge); err == nil {
		left = append(left, "link: "+bridge)
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if strings.Contains(table.Name, bridge) {
			left = append(left, "nftables table: "+table.Name)
		}
	}
	return left
}
