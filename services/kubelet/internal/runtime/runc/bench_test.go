package runc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"drover.dev/kubelet/internal/network"
	"drover.dev/kubelet/internal/runtime"
)

// reportQuantiles reports p50 and p90 of the samples in ms.
func reportQuantiles(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	q := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.9), "p90-ms")
}

// BenchmarkPodStart measures RunPodSandbox + CreateContainer +
// StartContainer of busybox `true`, with pod networking, until StartContainer
// returns (the container runs).
func BenchmarkPodStart(b *testing.B) {
	tmp := b.TempDir()
	layer := filepath.Join(tmp, "layer")
	if err := busyboxLayer(layer); err != nil {
		b.Fatal(err)
	}
	nw, err := network.New(network.Config{PodCIDR: "10.79.0.0/16", StateDir: filepath.Join(tmp, "ipam")})
	if err != nil {
		b.Fatal(err)
	}
	parent := "drover-bench-" + newID()[:8]
	rt, err := New(Options{RootDir: filepath.Join(tmp, "root"), Layers: layers{busyboxImage: layer}, Network: nw, CgroupParent: parent})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		roots, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, r := range roots {
			os.Remove(filepath.Join(r, parent))
		}
	}()
	ctx := context.Background()
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: fmt.Sprintf("bench-%d", i), Name: "bench", Namespace: "default"})
		if err != nil {
			b.Fatal(err)
		}
		id, err := rt.CreateContainer(ctx, sb.ID, cmd("true", "true"))
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportQuantiles(b, samples)
}

// BenchmarkRuncCLI is the floor: `runc run` of the same rootfs running
// `true` (needs the runc binary: apt-get install runc).
func BenchmarkRuncCLI(b *testing.B) {
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		b.Skip("runc binary not installed")
	}
	tmp := b.TempDir()
	bundle := filepath.Join(tmp, "bundle")
	if err := busyboxLayer(filepath.Join(bundle, "rootfs")); err != nil {
		b.Fatal(err)
	}
	gen := exec.Command(runcBin, "spec")
	gen.Dir = bundle
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("runc spec: %v: %s", err, out)
	}
	var spec map[string]any
	raw, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(raw, &spec); err != nil {
		b.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["args"], proc["terminal"] = []string{"true"}, false
	raw, _ = json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o644); err != nil {
		b.Fatal(err)
	}
	state := filepath.Join(tmp, "state")
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		c := exec.Command(runcBin, "--root", state, "run", "--bundle", bundle, fmt.Sprintf("bench-%d", i))
		if out, err := c.CombinedOutput(); err != nil {
			b.Fatalf("runc run: %v: %s", err, out)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	reportQuantiles(b, samples)
}

// BenchmarkRelist measures what the kubelet's once-a-second relist asks of
// the runtime (ListPodSandboxes and ListContainers("")) with 50 running
// pods.
func BenchmarkRelist(b *testing.B) {
	tmp := b.TempDir()
	layer := filepath.Join(tmp, "layer")
	if err := busyboxLayer(layer); err != nil {
		b.Fatal(err)
	}
	parent := "drover-bench-" + newID()[:8]
	rt, err := New(Options{RootDir: filepath.Join(tmp, "root"), Layers: layers{busyboxImage: layer}, CgroupParent: parent})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	defer func() {
		sbs, _ := rt.ListPodSandboxes(ctx)
		for _, sb := range sbs {
			if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
				b.Error(err)
			}
		}
		roots, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, r := range roots {
			os.Remove(filepath.Join(r, parent))
		}
	}()
	const pods = 50
	for i := range pods {
		sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: fmt.Sprintf("relist-%d", i), Name: "relist", Namespace: "default"})
		if err != nil {
			b.Fatal(err)
		}
		id, err := rt.CreateContainer(ctx, sb.ID, cmd("sleeper", "sleep", "1000"))
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		sbs, err := rt.ListPodSandboxes(ctx)
		if err != nil || len(sbs) != pods {
			b.Fatalf("%d sandboxes, %v", len(sbs), err)
		}
		cs, err := rt.ListContainers(ctx, "")
		if err != nil || len(cs) != pods {
			b.Fatalf("%d containers, %v", len(cs), err)
		}
	}
}
