// Package bench measures drover-apiserver as a separate process against a
// real embedded etcd, driven by client-go with 16 concurrent clients. The
// numbers are reported as benchmark metrics; nothing here passes or fails
// on speed.
//
//	go test -run '^$' -bench . -benchtime 1x ./test/bench/
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"drover.dev/libs/benchutil"
	"drover.dev/libs/etcdtest"
)

const clients = 16

type server struct {
	cmd    *exec.Cmd
	config *rest.Config
	cs     kubernetes.Interface
}

// buildDirs hold the binaries built for the benchmarks; TestMain removes them.
var buildDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range buildDirs {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// build builds the apiserver, or takes the binary named by
// DROVER_BENCH_APISERVER_BIN (to compare with another version).
func build(b *testing.B) string {
	if bin := os.Getenv("DROVER_BENCH_APISERVER_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "drover-bench")
		buildDirs = append(buildDirs, dir)
		if err != nil {
			buildErr = err
			return
		}
		binPath, buildErr = benchutil.GoBuild(dir, "drover.dev/apiserver")
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// start runs etcd in-process and the apiserver as a child process.
func start(b *testing.B, extraArgs ...string) *server {
	b.Helper()
	return startWith(b, etcdtest.StartDurable(b), extraArgs...)
}

// startWith runs the apiserver as a child process on the given etcd.
func startWith(b *testing.B, etcd *etcdtest.Server, extraArgs ...string) *server {
	b.Helper()
	url, cmd := benchutil.StartAPIServer(b, build(b), etcd.ClientURL, extraArgs...)
	cfg := &rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1, Burst: -1}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return &server{cmd: cmd, config: cfg, cs: cs}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "registry.example/web:1.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: mustQuantity("100m"), corev1.ResourceMemory: mustQuantity("64Mi")}},
		}}},
	}
}

// parallel runs n calls of fn across the clients and returns calls per second.
func parallel(n int, fn func(i int) error) (float64, error) {
	start := time.Now()
	if err := benchutil.Parallel(clients, n, fn); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// createPods creates n pods named prefix-i and reports the rate.
func createPods(b *testing.B, cs kubernetes.Interface, prefix string, n int) float64 {
	ctx := context.Background()
	rate, err := parallel(n, func(i int) error {
		_, err := cs.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("%s-%d", prefix, i)), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return rate
}

// BenchmarkCreate: pods created per second by 16 concurrent clients.
func BenchmarkCreate(b *testing.B) {
	s := start(b)
	createPods(b, s.cs, "warm", 200)
	done := cpuProfile(b, s, "DROVER_BENCH_CPU_PROFILE")
	b.ResetTimer()
	rate := createPods(b, s.cs, "c", 5000*b.N)
	b.ReportMetric(rate, "creates/s")
	done()
}

// cpuProfile records the apiserver's CPU profile for 3 seconds into the file
// named by the environment variable env, if set; done waits for it.
func cpuProfile(b *testing.B, s *server, env string) (done func()) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		prof, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "3").DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, prof, 0o644)
		}
		if err != nil {
			b.Error(err)
		}
	}()
	return func() { <-ch }
}

// BenchmarkGet: consistent (resourceVersion="") pod gets per second by 16 clients.
func BenchmarkGet(b *testing.B) {
	s := start(b)
	createPods(b, s.cs, "g", 100)
	ctx := context.Background()
	b.ResetTimer()
	rate, err := parallel(20000*b.N, func(i int) error {
		_, err := s.cs.CoreV1().Pods("default").Get(ctx, fmt.Sprintf("g-%d", i%100), metav1.GetOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "gets/s")
}

// BenchmarkList10kPods: a consistent list of 10,000 pods, and the
// apiserver's resident memory while it holds them.
func BenchmarkList10kPods(b *testing.B) {
	s := start(b)
	createPods(b, s.cs, "l", 10000)
	ctx := context.Background()
	if _, err := s.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocsBefore := ms.Mallocs
	b.ResetTimer()
	for range max(b.N, 10) {
		t0 := time.Now()
		l, err := s.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		if len(l.Items) != 10000 {
			b.Fatalf("listed %d", len(l.Items))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/list-p50")
	b.ReportMetric(float64(ms.Mallocs-allocsBefore)/float64(len(times)), "client-allocs/list")
	// Server-side time without the client's decoding: a raw GET.
	raw := s.cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods")
	var rawTimes []time.Duration
	for range 10 {
		t0 := time.Now()
		if _, err := raw.DoRaw(ctx); err != nil {
			b.Fatal(err)
		}
		rawTimes = append(rawTimes, time.Since(t0))
	}
	slices.Sort(rawTimes)
	b.ReportMetric(float64(rawTimes[len(rawTimes)/2].Microseconds())/1000, "ms/raw-list-p50")
	runtime.GC()
	b.ReportMetric(float64(procStatusKB(b, s.cmd.Process.Pid, "VmRSS"))/1024, "apiserver-RSS-MB")
	b.ReportMetric(float64(procStatusKB(b, s.cmd.Process.Pid, "VmHWM"))/1024, "apiserver-peak-RSS-MB")
	if path := os.Getenv("DROVER_BENCH_HEAP_PROFILE"); path != "" {
		// go tool pprof <path> shows what the apiserver holds with 10,000 pods.
		prof, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").DoRaw(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, prof, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKB(b *testing.B, pid int, field string) int {
	kb, err := benchutil.StatusKB(pid, field)
	if err != nil {
		b.Fatal(err)
	}
	return kb
}

// BenchmarkWatchLatency: 100 watchers of pods; delivery latency from the
// moment an update returns to the client until each watcher has the event.
func BenchmarkWatchLatency(b *testing.B) {
	s := start(b)
	const watchers = 100
	const updates = 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := s.cs.CoreV1().Pods("default").Create(ctx, pod("watched"), metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	var wg sync.WaitGroup
	ready := make(chan struct{}, watchers)
	for range watchers {
		w, err := s.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: p.ResourceVersion, FieldSelector: "metadata.name=watched"})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Stop()
			ready <- struct{}{}
			seen := 0
			for ev := range w.ResultChan() {
				now := time.Now()
				obj, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				mu.Lock()
				if t, ok := sent[obj.ResourceVersion]; ok {
					lat = append(lat, now.Sub(t))
				}
				mu.Unlock()
				seen++
				if seen == updates {
					return
				}
			}
		}()
	}
	for range watchers {
		<-ready
	}
	b.ResetTimer()
	for i := range updates {
		t0 := time.Now()
		patched, err := s.cs.CoreV1().Pods("default").Patch(ctx, "watched", "application/merge-patch+json",
			[]byte(fmt.Sprintf(`{"metadata":{"annotations":{"n":"%d"}}}`, i)), metav1.PatchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		sent[patched.ResourceVersion] = t0
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no latencies")
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(len(lat)), "deliveries")
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// cpuSeconds is the user+system CPU time a process has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	sec, err := benchutil.CPUSeconds(pid)
	if err != nil {
		b.Fatal(err)
	}
	return sec
}
