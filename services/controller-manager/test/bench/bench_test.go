// Package bench measures drover-controller-manager, run as a separate
// process, against an in-process apiserver with hollow nodes: the time to
// converge many Deployments, then to roll all of them, and its idle CPU and
// RSS with that state. Numbers are benchmark metrics; nothing fails on speed.
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./test/bench/
//
// DROVER_BENCH_DEPLOYMENTS (default 1000) and DROVER_BENCH_REPLICAS
// (default 10) size the run; DROVER_BENCH_HEAP_PROFILE=<file> saves the
// controller-manager's idle heap profile, DROVER_BENCH_CPU_PROFILE=<file> a
// 30 s CPU profile from the start of the roll, DROVER_BENCH_LOG_LEVEL the
// controller-manager's log level (default warn).
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/libs/benchutil"
	"drover.dev/libs/hollow"
)

const (
	namespaces = 10
	clients    = 16
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func build(b *testing.B) string {
	b.Helper()
	bin, err := benchutil.GoBuild(b.TempDir(), "drover.dev/controller-manager")
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// cpuSeconds is the user+system CPU time of pid.
func cpuSeconds(b *testing.B, pid int) float64 {
	sec, err := benchutil.CPUSeconds(pid)
	if err != nil {
		b.Fatal(err)
	}
	return sec
}

func statusKB(b *testing.B, pid int, key string) int {
	kb, err := benchutil.StatusKB(pid, key)
	if err != nil {
		b.Fatal(err)
	}
	return kb
}

// logSyncMetrics logs the controller-manager's sync and retry counters: a
// phase that is slow with many errors waits on the retry rate limiter.
func logSyncMetrics(b *testing.B, cs kubernetes.Interface, port int, phase string) {
	// The apiserver's write counts by resource and code show churn and
	// conflicts.
	if raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background()); err == nil {
		var lines []string
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "apiserver_request_total{") && !strings.Contains(l, `verb="GET"`) &&
				!strings.Contains(l, `verb="LIST"`) && !strings.Contains(l, `verb="WATCH"`) && !strings.Contains(l, "leases") {
				lines = append(lines, l)
			}
		}
		b.Logf("%s apiserver writes (cumulative):\n%s", phase, strings.Join(lines, "\n"))
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		b.Logf("metrics: %v", err)
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "controller_sync_total{") || strings.HasPrefix(l, "workqueue_retries_total{") {
			lines = append(lines, l)
		}
	}
	b.Logf("%s metrics (cumulative):\n%s", phase, strings.Join(lines, "\n"))
}

func deployment(i, replicas int) *apps.Deployment {
	labels := map[string]string{"app": fmt.Sprintf("d%d", i)}
	return &apps.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("d%d", i), Namespace: fmt.Sprintf("bench-%d", i%namespaces)},
		Spec: apps.DeploymentSpec{
			Replicas: ptr(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "registry.example/web:1",
					Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
						v1.ResourceCPU: resource.MustParse("10m"), v1.ResourceMemory: resource.MustParse("16Mi")}}}}},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// waitConverged polls until every deployment has rolled out its current
// generation, and returns how long that took from start.
func waitConverged(b *testing.B, cs kubernetes.Interface, n, replicas int, start time.Time) time.Duration {
	b.Helper()
	ctx := context.Background()
	deadline := start.Add(15 * time.Minute)
	var lastLog time.Duration
	for {
		done := 0
		for ns := range namespaces {
			l, err := cs.AppsV1().Deployments(fmt.Sprintf("bench-%d", ns)).List(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range l.Items {
				s := d.Status
				r := int32(replicas)
				if s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == r && s.Replicas == r && s.AvailableReplicas == r {
					done++
				}
			}
		}
		if done == n {
			return time.Since(start)
		}
		if elapsed := time.Since(start); elapsed-lastLog >= 10*time.Second {
			b.Logf("%5.1fs: %d/%d deployments converged", elapsed.Seconds(), done, n)
			lastLog = elapsed
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d/%d deployments converged", done, n)
		}
		time.Sleep(time.Second)
	}
}

func BenchmarkConvergeDeployments(b *testing.B) {
	n := envInt("DROVER_BENCH_DEPLOYMENTS", 1000)
	replicas := envInt("DROVER_BENCH_REPLICAS", 10)
	bin := build(b)
	api := apitesting.StartTestServer(b, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := max(n*replicas/100, 3)
	hc, err := hollow.Start(ctx, cs, hollow.Options{Nodes: nodes, BindUnscheduled: true, Workers: 32, Pods: 200})
	if err != nil {
		b.Fatal(err)
	}
	defer hc.Stop()
	for ns := range namespaces {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", ns)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	port := benchutil.FreePort(b)
	logLevel := "warn"
	if l := os.Getenv("DROVER_BENCH_LOG_LEVEL"); l != "" {
		logLevel = l
	}
	cmd := exec.Command(bin, "--kubeconfig="+benchutil.WriteKubeconfig(b, api.URL), "--leader-elect=false",
		"--port="+strconv.Itoa(port), "--log-level="+logLevel, "--kube-api-qps=2000", "--kube-api-burst=4000")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("controller-manager not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ResetTimer()

	pid := cmd.Process.Pid
	cpu0 := cpuSeconds(b, pid)
	self0 := cpuSeconds(b, os.Getpid())
	start := time.Now()
	err = benchutil.Parallel(clients, n, func(i int) error {
		d := deployment(i, replicas)
		_, err := cs.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	create := waitConverged(b, cs, n, replicas, start)
	cpu1 := cpuSeconds(b, pid)
	self1 := cpuSeconds(b, os.Getpid())
	b.Logf("create phase: apiserver, etcd and hollow nodes used %.1f CPU-s", self1-self0)
	b.Logf("create phase: %d deployments x %d replicas converged in %s (controller-manager used %.1f CPU-s)", n, replicas, create, cpu1-cpu0)
	logSyncMetrics(b, cs, port, "create")

	profiled := make(chan struct{})
	if path := os.Getenv("DROVER_BENCH_CPU_PROFILE"); path != "" {
		go func() {
			defer close(profiled)
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=30", port))
			if err == nil {
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = os.WriteFile(path, data, 0o644)
			}
		}()
	} else {
		close(profiled)
	}
	start = time.Now()
	err = benchutil.Parallel(clients, n, func(i int) error {
		d := deployment(i, replicas)
		cur, err := cs.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Template.Spec.Containers[0].Image = "registry.example/web:2"
		_, err = cs.AppsV1().Deployments(d.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	roll := waitConverged(b, cs, n, replicas, start)
	<-profiled
	cpu2 := cpuSeconds(b, pid)
	b.Logf("roll phase: apiserver, etcd and hollow nodes used %.1f CPU-s", cpuSeconds(b, os.Getpid())-self1)
	b.Logf("roll phase: %d deployments rolled in %s (controller-manager used %.1f CPU-s)", n, roll, cpu2-cpu1)
	logSyncMetrics(b, cs, port, "roll")
	b.StopTimer()

	// Idle: nothing changes but leases; let queues drain first.
	time.Sleep(10 * time.Second)
	const window = 30 * time.Second
	before := cpuSeconds(b, pid)
	time.Sleep(window)
	idle := (cpuSeconds(b, pid) - before) / window.Seconds() * 100
	rss := float64(statusKB(b, pid, "VmRSS")) / 1024
	anon := float64(statusKB(b, pid, "RssAnon")) / 1024
	file := float64(statusKB(b, pid, "RssFile")) / 1024
	peak := float64(statusKB(b, pid, "VmHWM")) / 1024
	b.Logf("idle: %.2f%% of a core, RSS %.0f MB (anon %.0f, file %.0f; peak %.0f MB)", idle, rss, anon, file, peak)
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err == nil {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "go_memstats_heap_") || strings.HasPrefix(l, "go_memstats_next_gc") {
				lines = append(lines, l)
			}
		}
		b.Logf("idle heap:\n%s", strings.Join(lines, "\n"))
	}
	if path := os.Getenv("DROVER_BENCH_HEAP_PROFILE"); path != "" {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port))
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_ = os.WriteFile(path, data, 0o644)
		}
	}
	b.ReportMetric(cpu1-cpu0, "cm-cpu-s-create")
	b.ReportMetric(cpu2-cpu1, "cm-cpu-s-roll")
	b.ReportMetric(create.Seconds(), "s-create-phase")
	b.ReportMetric(roll.Seconds(), "s-roll-phase")
	b.ReportMetric(idle, "idle-cpu-%")
	b.ReportMetric(rss, "idle-RSS-MB")
	b.ReportMetric(anon, "idle-RssAnon-MB")
	b.ReportMetric(file, "idle-RssFile-MB")
	b.ReportMetric(peak, "peak-RSS-MB")
}
