// Package bench measures drover-kubelet as a separate process against a
// real apiserver and etcd: pod startup latency with real runc containers
// (create sent → Running seen by a watch, image present), the kubelet's
// RSS and CPU with 100 running pods, and the memory of hollow nodes.
// Numbers are benchmark metrics; nothing here passes or fails on speed.
//
//	go test -tags seccomp -run '^$' -bench . -benchtime 1x ./test/bench/
//
// Needs root (runc, netns), busybox-static, and cgo for the kubelet build.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/libs/benchutil"
	"drover.dev/libs/testimages"
)

var (
	buildOnce sync.Once
	kubelet   string
	buildErr  error
)

// buildKubelet builds drover-kubelet once (cgo, seccomp).
func buildKubelet(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubelet-bench-")
		if err != nil {
			buildErr = err
			return
		}
		kubelet = filepath.Join(dir, "drover-kubelet")
		cmd := exec.Command("go", "build", "-tags", "seccomp", "-o", kubelet, "drover.dev/kubelet")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build kubelet: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return kubelet
}

// writeKubeconfig writes cfg's server (insecure TLS) for a child process.
func writeKubeconfig(b *testing.B, cfg *rest.Config) string {
	return benchutil.WriteKubeconfig(b, cfg.Host)
}

// startKubelet runs a kubelet process and waits for its node to be Ready.
func startKubelet(b *testing.B, cs kubernetes.Interface, kubeconfig, name, runtime, cidr string) *exec.Cmd {
	root := b.TempDir()
	args := []string{"--kubeconfig=" + kubeconfig, "--hostname-override=" + name, "--root-dir=" + root, "--runtime=" + runtime,
		"--pod-cidr=" + cidr, "--port=0", "--healthz-port=0", "--anonymous-auth", "--node-ip=127.0.0.1", "--max-pods=250",
		"--log-level=warn"}
	cmd := exec.Command(buildKubelet(b), args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if runtime == "runc" {
			// Leave no containers, mounts or pod networks behind.
			out, err := exec.Command(kubelet, append(args, "--cleanup")...).CombinedOutput()
			if err != nil {
				b.Errorf("kubelet --cleanup: %v: %s", err, out)
			}
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
					return cmd
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %s not ready", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pod(name, node, image string) *v1.Pod {
	grace := int64(0)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{Name: "c", Image: image, Command: []string{"sleep", "3600"}}}},
	}
}

// runningTimes watches pods and reports when each was first seen Running.
func runningTimes(ctx context.Context, b *testing.B, cs kubernetes.Interface) (func(string) <-chan time.Time, func()) {
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]time.Time{}
	waiters := map[string]chan time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Status.Phase != v1.PodRunning {
				continue
			}
			now := time.Now()
			mu.Lock()
			if _, ok := seen[p.Name]; !ok {
				seen[p.Name] = now
				if ch, ok := waiters[p.Name]; ok {
					ch <- now
				}
			}
			mu.Unlock()
		}
	}()
	wait := func(name string) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		ch := make(chan time.Time, 1)
		if t, ok := seen[name]; ok {
			ch <- t
		} else {
			waiters[name] = ch
		}
		return ch
	}
	return wait, w.Stop
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkPodStartup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for runc containers")
	}
	ctx := context.Background()
	api := apitesting.StartTestServer(b, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		b.Fatal(err)
	}
	addr, stop, err := testimages.StartRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	img, err := testimages.Busybox()
	if err != nil {
		b.Fatal(err)
	}
	image := addr + "/bench/busybox:1"
	if err := testimages.Push(ctx, image, img); err != nil {
		b.Fatal(err)
	}
	cmd := startKubelet(b, cs, writeKubeconfig(b, api.Config), "bench-node", "runc", "10.244.200.0/24")
	wait, stopWatch := runningTimes(ctx, b, cs)
	defer stopWatch()
	create := func(name string) time.Time {
		start := time.Now()
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod(name, "bench-node", image), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		return start
	}
	await := func(name string, start time.Time) time.Duration {
		select {
		case t := <-wait(name):
			return t.Sub(start)
		case <-time.After(2 * time.Minute):
			b.Fatalf("%s not running", name)
			return 0
		}
	}
	// The first pod pulls the image; the numbers below have it present.
	await("warmup", create("warmup"))

	b.ResetTimer()
	for range b.N {
		var one []time.Duration
		for i := range 20 {
			name := fmt.Sprintf("seq-%d", i)
			one = append(one, await(name, create(name)))
		}
		const n = 100
		starts := make([]time.Time, n)
		if err := benchutil.Parallel(8, n, func(i int) error {
			starts[i] = create(fmt.Sprintf("batch-%d", i))
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		var batch []time.Duration
		for i := range n {
			batch = append(batch, await(fmt.Sprintf("batch-%d", i), starts[i]))
		}
		b.StopTimer()
		time.Sleep(5 * time.Second) // let the status flurry settle
		cpu0, _ := benchutil.CPUSeconds(cmd.Process.Pid)
		time.Sleep(10 * time.Second)
		cpu1, _ := benchutil.CPUSeconds(cmd.Process.Pid)
		rss, _ := benchutil.StatusKB(cmd.Process.Pid, "VmRSS")
		b.ReportMetric(ms(percentile(one, 0.5)), "one-at-a-time-p50-ms")
		b.ReportMetric(ms(percentile(one, 0.99)), "one-at-a-time-p99-ms")
		b.ReportMetric(ms(percentile(batch, 0.5)), "burst100-p50-ms")
		b.ReportMetric(ms(percentile(batch, 0.99)), "burst100-p99-ms")
		b.ReportMetric(float64(rss)/1024, "kubelet-rss-MB-121pods")
		b.ReportMetric((cpu1-cpu0)/10, "kubelet-idle-cores-121pods")
		b.StartTimer()
	}
}

// BenchmarkHollowNodes starts hollow kubelets (DROVER_BENCH_HOLLOW_NODES,
// default 20), each its own process, and reports their memory, so that a
// machine's capacity for simulated nodes follows.
func BenchmarkHollowNodes(b *testing.B) {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("DROVER_BENCH_HOLLOW_NODES")); err == nil && v > 0 {
		n = v
	}
	api := apitesting.StartTestServer(b, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		b.Fatal(err)
	}
	kc := writeKubeconfig(b, api.Config)
	for range b.N {
		var cmds []*exec.Cmd
		for i := range n {
			cmds = append(cmds, startKubelet(b, cs, kc, fmt.Sprintf("hollow-%d", i), "hollow", fmt.Sprintf("10.245.%d.0/24", i)))
		}
		// 10 pods per node.
		for i := range n * 10 {
			if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod(fmt.Sprintf("h-%d", i), fmt.Sprintf("hollow-%d", i%n), "busybox:1"), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(10 * time.Second)
		var total float64
		var cpu0 float64
		for _, c := range cmds {
			kb, _ := benchutil.StatusKB(c.Process.Pid, "VmRSS")
			total += float64(kb) / 1024
			s, _ := benchutil.CPUSeconds(c.Process.Pid)
			cpu0 += s
		}
		time.Sleep(10 * time.Second)
		var cpu1 float64
		for _, c := range cmds {
			s, _ := benchutil.CPUSeconds(c.Process.Pid)
			cpu1 += s
		}
		perNode := total / float64(n)
		b.ReportMetric(perNode, "rss-MB-per-hollow-node")
		b.ReportMetric((cpu1-cpu0)/10/float64(n)*1000, "millicores-per-hollow-node")
		b.ReportMetric(24*1024/perNode, "hollow-nodes-per-24GiB")
	}
}
