// Package bench measures drover-scheduler in the style of Kubernetes'
// scheduler_perf: drover-apiserver and drover-scheduler run as separate
// processes against a real embedded etcd (fsync on), hollow nodes are
// created through the API, then pods. Numbers are reported as benchmark
// metrics; nothing here passes or fails on speed.
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./test/bench/
//
// DROVER_BENCH_SCHEDULER_BIN runs another scheduler binary;
// DROVER_BENCH_CPU_PROFILE / DROVER_BENCH_HEAP_PROFILE save profiles;
// DROVER_BENCH_CREATORS sets the number of pod-creating clients (64).
//
// Each case reports, for the e2e run (pods created while the scheduler
// runs): pods/s from the first create to the last binding observed,
// creates/s, p50/p99 per-pod latency (create sent → binding seen by a
// watch); for the scheduler-only run (pods created first, scheduler
// started after): pods/s between the first and last binding observed,
// and creates/s of the same apiserver with no scheduler running, which
// bounds what an e2e run (a create and a binding per pod) can reach;
// and the scheduler's CPU (cores used over the run, ms per pod) and peak
// RSS. When creates/s is not well above the e2e pods/s, the apiserver,
// not the scheduler, is what the e2e number measures.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"drover.dev/libs/benchutil"
	"drover.dev/libs/etcdtest"
	"drover.dev/scheduler/internal/benchload"
)

const (
	clients = 16
	zones   = 10
	ns      = "bench"
)

// creators is the number of clients creating pods (DROVER_BENCH_CREATORS,
// default 64). With 16, creation (about 100-300 creates/s on a loaded
// 2-core machine with the scheduler binding at the same time) was what
// the e2e runs measured; 64 keep creates/s above the binding rate, so
// that the scheduler and its bindings are what is measured, as in
// scheduler_perf.
func creators() int {
	if n, err := strconv.Atoi(os.Getenv("DROVER_BENCH_CREATORS")); err == nil && n > 0 {
		return n
	}
	return 64
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func build(b *testing.B) string {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "drover-sched-bench")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"drover.dev/apiserver", "drover.dev/scheduler"} {
			if _, buildErr = benchutil.GoBuild(binDir, pkg); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binDir
}

// TestMain removes the binaries built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type env struct {
	dir        string
	url        string
	cfg        *rest.Config
	cs         kubernetes.Interface
	kubeconfig string
	sched      *exec.Cmd
	schedURL   string
}

// startAPI runs etcd in-process and the apiserver as a child process.
func startAPI(b *testing.B) *env {
	b.Helper()
	dir := build(b)
	etcd := etcdtest.StartDurable(b)
	url, _ := benchutil.StartAPIServer(b, filepath.Join(dir, "drover-apiserver"), etcd.ClientURL)
	e := &env{dir: dir, url: url}
	e.cfg = &rest.Config{Host: e.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1, Burst: -1}
	var err error
	if e.cs, err = kubernetes.NewForConfig(e.cfg); err != nil {
		b.Fatal(err)
	}
	e.kubeconfig = benchutil.WriteKubeconfig(b, e.url)
	if _, err := e.cs.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	return e
}

// startScheduler runs drover-scheduler as a child process and waits for
// /readyz. DROVER_BENCH_SCHEDULER_BIN names another scheduler binary to
// run instead (an older build, for before/after comparisons).
func (e *env) startScheduler(b *testing.B) {
	b.Helper()
	port := benchutil.FreePort(b)
	bin := filepath.Join(e.dir, "drover-scheduler")
	if p := os.Getenv("DROVER_BENCH_SCHEDULER_BIN"); p != "" {
		bin = p
	}
	cmd := exec.Command(bin, "--kubeconfig="+e.kubeconfig, "--leader-elect=false",
		"--secure-port="+strconv.Itoa(port), "--kube-api-qps=5000", "--kube-api-burst=5000", "--log-level=warn")
	cmd.Stderr = os.Stderr
	benchutil.StartProcess(b, cmd)
	e.sched = cmd
	e.schedURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(e.schedURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("scheduler not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuProfile records 10s of the scheduler's CPU profile, starting 2s from
// now (DROVER_BENCH_CPU_PROFILE_DELAY), into the file named by
// DROVER_BENCH_CPU_PROFILE, if set.
func (e *env) cpuProfile(b *testing.B) <-chan struct{} {
	done := make(chan struct{})
	path := os.Getenv("DROVER_BENCH_CPU_PROFILE")
	if path == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		delay := 2 * time.Second
		if d, err := time.ParseDuration(os.Getenv("DROVER_BENCH_CPU_PROFILE_DELAY")); err == nil {
			delay = d
		}
		time.Sleep(delay)
		resp, err := http.Get(e.schedURL + "/debug/pprof/profile?seconds=10")
		if err != nil {
			b.Log(err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(path, data, 0o644)
	}()
	return done
}

// heapProfile saves the scheduler's heap profile to the file named by
// DROVER_BENCH_HEAP_PROFILE, if set.
func (e *env) heapProfile(b *testing.B) {
	path := os.Getenv("DROVER_BENCH_HEAP_PROFILE")
	if path == "" {
		return
	}
	resp, err := http.Get(e.schedURL + "/debug/pprof/heap")
	if err != nil {
		b.Log(err)
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, data, 0o644)
}

// createNodes creates hollow nodes (4 CPU, 32Gi, 110 pods, zone labels),
// then lifts the not-ready taint the apiserver puts on new nodes.
func (e *env) createNodes(b *testing.B, n int) {
	b.Helper()
	ctx := context.Background()
	res := v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("32Gi"),
		v1.ResourcePods: resource.MustParse("110"),
	}
	err := benchutil.Parallel(clients, n, func(i int) error {
		name := fmt.Sprintf("node-%05d", i)
		node := &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				v1.LabelHostname: name, v1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%zones), v1.LabelOSStable: "linux"}},
			Status: v1.NodeStatus{Capacity: res, Allocatable: res, Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
		}
		created, err := e.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		created.Spec.Taints = nil
		_, err = e.cs.CoreV1().Nodes().Update(ctx, created, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// boundWatcher records when each pod is first seen bound.
type boundWatcher struct {
	mu    sync.Mutex
	bound map[string]time.Time
	done  chan struct{}
	want  int
}

func (e *env) watchBound(b *testing.B, want int) *boundWatcher {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	bw := &boundWatcher{bound: map[string]time.Time{}, done: make(chan struct{}), want: want}
	see := func(p *v1.Pod) {
		if p.Spec.NodeName == "" {
			return
		}
		bw.mu.Lock()
		defer bw.mu.Unlock()
		if _, seen := bw.bound[p.Name]; !seen {
			bw.bound[p.Name] = time.Now()
			if len(bw.bound) == bw.want {
				close(bw.done)
			}
		}
	}
	list, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	w, err := e.cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*v1.Pod); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					see(p)
				}
			}
			w.Stop()
			// The stream ended (server timeout, dropped connection): catch
			// up with a list (bindings seen late are timed now), watch on.
			for ctx.Err() == nil {
				all, err := e.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				if err == nil {
					for i := range all.Items {
						see(&all.Items[i])
					}
					if w, err = e.cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: all.ResourceVersion}); err == nil {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return bw
}

func (bw *boundWatcher) wait(b *testing.B, timeout time.Duration) {
	select {
	case <-bw.done:
	case <-time.After(timeout):
		bw.mu.Lock()
		n := len(bw.bound)
		bw.mu.Unlock()
		b.Fatalf("only %d/%d pods bound after %v", n, bw.want, timeout)
	}
}

// procCPU returns user+system CPU seconds of a process.
func procCPU(pid int) float64 {
	sec, _ := benchutil.CPUSeconds(pid) // 0 once the process is gone
	return sec
}

func procStatusKB(pid int, field string) int {
	kb, _ := benchutil.StatusKB(pid, field) // 0 once the process is gone
	return kb
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

type benchCase struct {
	nodes, pods int
	affinity    bool
}

func (c benchCase) name() string {
	kind := "Basic"
	if c.affinity {
		kind = "AffinityAndSpread"
	}
	return fmt.Sprintf("%s/%dNodes_%dPods", kind, c.nodes, c.pods)
}

var cases = []benchCase{
	{500, 5000, false},
	{5000, 10000, false},
	{500, 5000, true},
	{5000, 10000, true},
}

// BenchmarkEndToEnd: pods are created by 16 clients while the scheduler
// runs; the clock runs from the first create to the last binding seen.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name(), func(b *testing.B) {
			for range b.N {
				e := startAPI(b)
				e.createNodes(b, c.nodes)
				e.startScheduler(b)
				pid := e.sched.Process.Pid
				b.ReportMetric(float64(procStatusKB(pid, "VmHWM"))/1024, "sched-synced-peak-RSS-MB")
				bw := e.watchBound(b, c.pods)
				cpu0 := procCPU(pid)
				created := make([]time.Time, c.pods)
				profiled := e.cpuProfile(b)
				start := time.Now()
				err := benchutil.Parallel(creators(), c.pods, func(i int) error {
					created[i] = time.Now()
					_, err := e.cs.CoreV1().Pods(ns).Create(context.Background(), benchload.Pod(fmt.Sprintf("pod-%05d", i), c.affinity), metav1.CreateOptions{})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				createdAll := time.Since(start)
				bw.wait(b, 20*time.Minute)
				var last time.Time
				lat := make([]time.Duration, 0, c.pods)
				bw.mu.Lock()
				for i := range c.pods {
					t := bw.bound[fmt.Sprintf("pod-%05d", i)]
					if t.After(last) {
						last = t
					}
					lat = append(lat, t.Sub(created[i]))
				}
				bw.mu.Unlock()
				wall := last.Sub(start)
				cpu := procCPU(pid) - cpu0
				e.heapProfile(b)
				<-profiled
				b.ReportMetric(float64(c.pods)/wall.Seconds(), "pods/s")
				b.ReportMetric(float64(c.pods)/createdAll.Seconds(), "creates/s")
				b.ReportMetric(float64(percentile(lat, 0.5).Milliseconds()), "p50-ms")
				b.ReportMetric(float64(percentile(lat, 0.99).Milliseconds()), "p99-ms")
				b.ReportMetric(cpu/wall.Seconds(), "sched-cores")
				b.ReportMetric(cpu*1000/float64(c.pods), "sched-cpu-ms/pod")
				b.ReportMetric(float64(procStatusKB(pid, "VmHWM"))/1024, "sched-peak-RSS-MB")
			}
		})
	}
}

// BenchmarkSchedulerOnly: every pod exists before the scheduler starts;
// the clock runs from the first to the last binding seen.
func BenchmarkSchedulerOnly(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name(), func(b *testing.B) {
			for range b.N {
				e := startAPI(b)
				e.createNodes(b, c.nodes)
				createStart := time.Now()
				err := benchutil.Parallel(creators(), c.pods, func(i int) error {
					_, err := e.cs.CoreV1().Pods(ns).Create(context.Background(), benchload.Pod(fmt.Sprintf("pod-%05d", i), c.affinity), metav1.CreateOptions{})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				// The apiserver's create rate with no scheduler running: the
				// ceiling of the end-to-end run, which needs a create and a
				// binding per pod.
				b.ReportMetric(float64(c.pods)/time.Since(createStart).Seconds(), "creates/s")
				bw := e.watchBound(b, c.pods)
				e.startScheduler(b)
				pid := e.sched.Process.Pid
				cpu0 := procCPU(pid)
				profiled := e.cpuProfile(b)
				bw.wait(b, 20*time.Minute)
				cpu := procCPU(pid) - cpu0
				var first, last time.Time
				bw.mu.Lock()
				for _, t := range bw.bound {
					if first.IsZero() || t.Before(first) {
						first = t
					}
					if t.After(last) {
						last = t
					}
				}
				bw.mu.Unlock()
				wall := last.Sub(first)
				<-profiled
				e.heapProfile(b)
				b.ReportMetric(float64(c.pods-1)/wall.Seconds(), "pods/s")
				b.ReportMetric(cpu/wall.Seconds(), "sched-cores")
				// CPU per pod depends less on the machine's load than pods/s.
				b.ReportMetric(cpu*1000/float64(c.pods), "sched-cpu-ms/pod")
				b.ReportMetric(float64(procStatusKB(pid, "VmHWM"))/1024, "sched-peak-RSS-MB")
				p50, p99 := attemptQuantiles(b, e.schedURL)
				b.ReportMetric(p50*1000, "attempt-p50-ms")
				b.ReportMetric(p99*1000, "attempt-p99-ms")
			}
		})
	}
}

// attemptQuantiles interpolates p50/p99 of the scheduler's attempt
// duration histogram (pop to bound).
func attemptQuantiles(b *testing.B, url string) (float64, float64) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	type bucket struct{ le, count float64 }
	var buckets []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "scheduler_scheduling_attempt_duration_seconds_bucket{") || !strings.Contains(line, `result="scheduled"`) {
			continue
		}
		i := strings.LastIndex(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		le, _ := strconv.ParseFloat(line[i+4:i+4+j], 64)
		cnt, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		buckets = append(buckets, bucket{le, cnt})
	}
	if len(buckets) == 0 {
		return 0, 0
	}
	total := buckets[len(buckets)-1].count
	q := func(p float64) float64 {
		target := p * total
		prevLe, prevCnt := 0.0, 0.0
		for _, bk := range buckets {
			if bk.count >= target {
				if bk.le > 1e9 {
					return prevLe
				}
				if bk.count == prevCnt {
					return bk.le
				}
				return prevLe + (bk.le-prevLe)*(target-prevCnt)/(bk.count-prevCnt)
			}
			prevLe, prevCnt = bk.le, bk.count
		}
		return prevLe
	}
	return q(0.5), q(0.99)
}
