package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
	"drover.dev/libs/benchutil"
)

// BenchmarkColdStartToNodesReady measures `drover up --nodes 3` on a fresh state dir
// until every node is Ready: embedded etcd and NATS, certificates, the control plane,
// three network namespaces, kubelets and proxies. It runs beside the suite's cluster,
// on a bridge and network of its own.
func BenchmarkColdStartToNodesReady(b *testing.B) {
	bins := framework.SharedBinaries(b)
	for b.Loop() {
		dir, err := os.MkdirTemp("", "drover-bench-")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		c, err := framework.StartCluster(bins, dir, framework.ClusterOptions{
			Components: []string{"apiserver", "controller-manager", "scheduler", "dns", "kubelet", "proxy"},
			ExtraArgs:  []string{"--nodes", "3", "--bridge", "drvbench0", "--node-network", "172.31.9.0/24"},
		})
		if err != nil {
			b.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(c.RestConfig())
		if err != nil {
			b.Fatal(err)
		}
		framework.WaitNodesReady(b, cs, numNodes, time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "s-to-ready")
		if err := c.Stop(); err != nil {
			b.Error(err)
		}
		os.RemoveAll(dir)
	}
}

// BenchmarkIdleRSS reports the resident memory of drover (embedded etcd and NATS) and
// of every daemon of the suite's cluster while a small workload runs: 3 web replicas
// and a client fetching from them through their Service.
func BenchmarkIdleRSS(b *testing.B) {
	c := framework.SharedCluster(b)
	cs := c.Clientset(b)
	framework.WaitNodesReady(b, cs, numNodes, time.Minute)
	importImages(b, c)
	e := &env{c: c, cs: cs, ns: framework.TestNamespace(b, cs)}
	if _, err := cs.AppsV1().Deployments(e.ns).Create(context.Background(), webDeployment("web", 3), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(e.ns).Create(context.Background(), service("web", "web", corev1.ServiceTypeClusterIP), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	framework.Eventually(b, podsTimeout, func() error {
		pods, err := e.livePods("web")
		if err != nil {
			return err
		}
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running != 3 {
			return fmt.Errorf("%d of 3 running", running)
		}
		return nil
	})
	// Idle means after start-up: a measurement delay, not a wait for a condition.
	time.Sleep(10 * time.Second)
	for b.Loop() {
		// RSS counts the pages of a binary shared by several processes once per
		// process; PSS splits them, so the PSS sum is the memory all of them
		// take together. Anon is each process's private, unreclaimable part.
		var controlPlane, cluster memory
		droverMem := measure(b, c.Drover.Pid())
		b.ReportMetric(droverMem.rss, "drover+etcd+nats-MB")
		controlPlane.add(droverMem)
		cluster.add(droverMem)
		for _, d := range []struct{ bin, unit string }{
			{framework.BinAPIServer, "apiserver-MB"},
			{framework.BinControllerManager, "controller-manager-MB"},
			{framework.BinScheduler, "scheduler-MB"},
			{framework.BinDNS, "dns-MB"},
			{framework.BinKubelet, "kubelet-per-node-MB"},
			{framework.BinProxy, "proxy-per-node-MB"},
		} {
			pids := c.DaemonPIDs(d.bin)
			if len(pids) == 0 {
				b.Fatalf("no %s running", d.bin)
			}
			var daemon memory
			for _, pid := range pids {
				m := measure(b, pid)
				daemon.add(m)
				cluster.add(m)
				if !strings.Contains(d.unit, "per-node") {
					controlPlane.add(m)
				}
			}
			b.ReportMetric(daemon.rss/float64(len(pids)), d.unit)
		}
		b.ReportMetric(controlPlane.rss, "control-plane-RSS-MB")
		b.ReportMetric(controlPlane.pss, "control-plane-PSS-MB")
		b.ReportMetric(controlPlane.anon, "control-plane-anon-MB")
		// Everything of the 3-node cluster: drover with etcd and NATS, the
		// four control-plane daemons, and each node's kubelet and proxy.
		b.ReportMetric(cluster.rss, "cluster-RSS-MB")
		b.ReportMetric(cluster.pss, "cluster-PSS-MB")
		b.ReportMetric(cluster.anon, "cluster-anon-MB")
	}
}

// memory of one process or a sum of them, in MB.
type memory struct{ rss, pss, anon float64 }

func (m *memory) add(o memory) { m.rss, m.pss, m.anon = m.rss+o.rss, m.pss+o.pss, m.anon+o.anon }

func measure(b *testing.B, pid int) memory {
	rss, err := benchutil.StatusKB(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	anon, err := benchutil.StatusKB(pid, "RssAnon")
	if err != nil {
		b.Fatal(err)
	}
	pss, err := benchutil.PssKB(pid)
	if err != nil {
		b.Fatal(err)
	}
	return memory{rss: float64(rss) / 1024, pss: float64(pss) / 1024, anon: float64(anon) / 1024}
}

// BenchmarkPodStartup30 creates a Deployment of 30 replicas on the 3 nodes and reports
// the p50 and p99 of each pod's time from first seen (created by the ReplicaSet) to
// Running, as a watch sees them, and the time until all 30 run.
func BenchmarkPodStartup30(b *testing.B) {
	c := framework.SharedCluster(b)
	cs := c.Clientset(b)
	framework.WaitNodesReady(b, cs, numNodes, time.Minute)
	importImages(b, c)
	for b.Loop() {
		ns := framework.TestNamespace(b, cs)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, webDeployment("web", 30), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		seen, running := map[string]time.Time{}, map[string]time.Duration{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if _, ok := seen[p.Name]; !ok {
				seen[p.Name] = time.Now()
			}
			if _, done := running[p.Name]; !done && p.Status.Phase == corev1.PodRunning {
				running[p.Name] = time.Since(seen[p.Name])
			}
			if len(running) == 30 {
				break
			}
		}
		all := time.Since(start)
		w.Stop()
		cancel()
		if len(running) != 30 {
			b.Fatalf("%d of 30 pods running before the watch ended", len(running))
		}
		var ds []time.Duration
		for _, d := range running {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		b.ReportMetric(ds[len(ds)/2].Seconds()*1000, "p50-ms")
		b.ReportMetric(ds[len(ds)*99/100].Seconds()*1000, "p99-ms")
		b.ReportMetric(all.Seconds(), "all-running-s")
		framework.DeleteNamespace(b, cs, ns)
	}
}
