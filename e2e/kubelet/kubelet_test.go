// Package kubelet checks drover-kubelet end to end: `drover up` with the
// controller-manager, the scheduler and one node running real runc
// containers, driven with kubectl and client-go; images come from an
// in-process registry on loopback and from an imported archive.
package kubelet

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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
	"drover.dev/libs/testimages"
)

// image is the busybox image as pushed to the test registry.
var image string

func TestMain(m *testing.M) {
	ctx := context.Background()
	addr, stop, err := testimages.StartRegistry(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: registry:", err)
		os.Exit(1)
	}
	img, err := testimages.Busybox()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	image = addr + "/test/busybox:1.35"
	if err := testimages.Push(ctx, image, img); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: push:", err)
		os.Exit(1)
	}
	framework.Main(m, framework.MainOptions{
		Cluster:  true,
		Binaries: append([]string{framework.BinKubectl}, framework.NodeBinaries...),
		ClusterOptions: framework.ClusterOptions{
			Components: []string{"apiserver", "controller-manager", "scheduler", "kubelet"},
		},
	})
	stop()
}

const node = "node-1"

// setup returns a client and a fresh namespace once the node is Ready.
func setup(t *testing.T) (*framework.Cluster, kubernetes.Interface, string) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	framework.Eventually(t, 2*time.Minute, func() error {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && n.Spec.PodCIDR != "" {
				return nil
			}
		}
		return fmt.Errorf("node %s not ready with a pod CIDR yet", node)
	})
	return c, cs, framework.TestNamespace(t, cs)
}

func busybox(name string, cmd string) corev1.Container {
	return corev1.Container{Name: name, Image: image, Command: []string{"sh", "-c", cmd}}
}

func createPod(t *testing.T, cs kubernetes.Interface, ns string, pod *corev1.Pod) {
	t.Helper()
	pod.Namespace = ns
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPod polls the pod until cond holds.
func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	framework.Eventually(t, timeout, func() error {
		var err error
		pod, err = cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return cond(pod)
	})
	return pod
}

func phase(p corev1.PodPhase) func(*corev1.Pod) error {
	return func(pod *corev1.Pod) error {
		if pod.Status.Phase != p {
			return fmt.Errorf("phase %s, want %s (%+v)", pod.Status.Phase, p, pod.Status.ContainerStatuses)
		}
		return nil
	}
}

func status(pod *corev1.Pod, name string) corev1.ContainerStatus {
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if s.Name == name {
			return s
		}
	}
	return corev1.ContainerStatus{}
}

func TestContainersShareLocalhostAndLogsWork(t *testing.T) {
	c, cs, ns := setup(t)
	k := c.Kubectl(t)
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			busybox("httpd", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"),
			busybox("client", "i=0; while true; do i=$((i+1)); echo \"$i $(wget -qO- http://127.0.0.1:8080/)\"; sleep 0.5; done"),
		}},
	})
	pod := waitPod(t, cs, ns, "web", 2*time.Minute, phase(corev1.PodRunning))
	if pod.Status.PodIP == "" || pod.Spec.NodeName != node {
		t.Fatalf("podIP %q node %q", pod.Status.PodIP, pod.Spec.NodeName)
	}
	framework.Eventually(t, 30*time.Second, func() error {
		out := k.Run("logs", "-n", ns, "web", "-c", "client").Stdout
		if !strings.Contains(out, "hello-from-web") {
			return fmt.Errorf("client log: %q", out)
		}
		return nil
	})

	// logs -f streams lines written after it started.
	follow := k.Start("logs", "-f", "-n", ns, "web", "-c", "client", "--tail=1")
	defer follow.Stop()
	first := follow.WaitForLine(t, 30*time.Second, func(l string) bool { return strings.Contains(l, "hello-from-web") })
	n, _ := strconv.Atoi(strings.Fields(first)[0])
	follow.WaitForLine(t, 30*time.Second, func(l string) bool {
		m, err := strconv.Atoi(strings.Fields(l)[0])
		return err == nil && m >= n+2
	})

	wide := k.MustRun("get", "pods", "-n", ns, "-o", "wide")
	if !strings.Contains(wide, pod.Status.PodIP) || !strings.Contains(wide, node) {
		t.Fatalf("get -o wide lacks IP or NODE:\n%s", wide)
	}
	framework.Eventually(t, 30*time.Second, func() error {
		desc := k.MustRun("describe", "pod", "-n", ns, "web")
		for _, want := range []string{"Scheduled", "Started container httpd", "Started container client"} {
			if !strings.Contains(desc, want) {
				return fmt.Errorf("describe lacks %q:\n%s", want, desc)
			}
		}
		return nil
	})
}

func TestInitContainersRunInOrder(t *testing.T) {
	_, cs, ns := setup(t)
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "inits"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{busybox("first", "sleep 1"), busybox("second", "sleep 1")},
			Containers:     []corev1.Container{busybox("main", "sleep 3600")},
		},
	})
	pod := waitPod(t, cs, ns, "inits", 2*time.Minute, phase(corev1.PodRunning))
	first, second, main := status(pod, "first"), status(pod, "second"), status(pod, "main")
	if first.State.Terminated == nil || second.State.Terminated == nil || main.State.Running == nil {
		t.Fatalf("states: %+v %+v %+v", first.State, second.State, main.State)
	}
	if second.State.Terminated.StartedAt.Before(&first.State.Terminated.FinishedAt) ||
		main.State.Running.StartedAt.Before(&second.State.Terminated.FinishedAt) {
		t.Fatalf("out of order: first %v–%v, second %v–%v, main %v", first.State.Terminated.StartedAt, first.State.Terminated.FinishedAt,
			second.State.Terminated.StartedAt, second.State.Terminated.FinishedAt, main.State.Running.StartedAt)
	}
}

func TestCrashingContainerBacksOff(t *testing.T) {
	c, cs, ns := setup(t)
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crash"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{busybox("main", "echo dying; exit 3")}},
	})
	pod := waitPod(t, cs, ns, "crash", 2*time.Minute, func(p *corev1.Pod) error {
		s := status(p, "main")
		if s.RestartCount >= 1 && s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" {
			return nil
		}
		return fmt.Errorf("status %+v", s)
	})
	s := status(pod, "main")
	if last := s.LastTerminationState.Terminated; last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Fatalf("lastState: %+v", s.LastTerminationState)
	}
	if !strings.Contains(s.State.Waiting.Message, "back-off 10s restarting failed container=main") {
		t.Fatalf("back-off message: %q", s.State.Waiting.Message)
	}
	// The log of the instance that ended is still there.
	if out := c.Kubectl(t).MustRun("logs", "-n", ns, "crash", "--previous"); !strings.Contains(out, "dying") {
		t.Fatalf("logs --previous: %q", out)
	}
}

func TestMissingImageReportsPullErrors(t *testing.T) {
	_, cs, ns := setup(t)
	missing := busybox("main", "true")
	missing.Image = strings.Replace(image, "/test/busybox:1.35", "/test/nothing:1", 1)
	createPod(t, cs, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nothing"}, Spec: corev1.PodSpec{Containers: []corev1.Container{missing}}})
	seen := map[string]bool{}
	waitPod(t, cs, ns, "nothing", 2*time.Minute, func(p *corev1.Pod) error {
		if w := status(p, "main").State.Waiting; w != nil {
			seen[w.Reason] = true
		}
		if seen["ImagePullBackOff"] && seen["ErrImagePull"] {
			return nil
		}
		return fmt.Errorf("waiting reasons seen: %v", seen)
	})
}

func TestOOMKilled(t *testing.T) {
	_, cs, ns := setup(t)
	// dd is the container's main process: its 64 MiB buffer exceeds the limit.
	c := busybox("hog", "exec dd if=/dev/zero of=/dev/null bs=64M count=1")
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oom"},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c}},
	})
	pod := waitPod(t, cs, ns, "oom", 2*time.Minute, phase(corev1.PodFailed))
	term := status(pod, "hog").State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("terminated: %+v", term)
	}
}

// A container that traps SIGTERM ends cleanly well within its grace
// period, and the kubelet confirms the deletion.
func TestGracefulTermination(t *testing.T) {
	_, cs, ns := setup(t)
	grace := int64(60)
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trap"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{
			busybox("main", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.2; done"),
		}},
	})
	pod := waitPod(t, cs, ns, "trap", 2*time.Minute, phase(corev1.PodRunning))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=trap", ResourceVersion: pod.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "trap", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var exit *corev1.ContainerStateTerminated
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if t := status(p, "main").State.Terminated; t != nil {
			exit = t
		}
		if ev.Type == watch.Deleted {
			break
		}
	}
	if exit == nil || exit.ExitCode != 0 {
		t.Fatalf("final state before deletion: %+v", exit)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "trap", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod still there: %v", err)
	}
}

// kubeletPID finds the node's kubelet (not its container shims); 0 when
// none runs.
func kubeletPID(c *framework.Cluster) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) == framework.BinKubelet && strings.Contains(string(b), "--root-dir="+filepath.Join(c.StateDir, "nodes", node)) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// Killing the kubelet leaves the containers running; the restarted kubelet
// adopts them: same container, no restart.
func TestKubeletRestartAdoptsRunningPods(t *testing.T) {
	c, cs, ns := setup(t)
	createPod(t, cs, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{busybox("main", "while true; do date +%s; sleep 1; done")}},
	})
	before := status(waitPod(t, cs, ns, "survivor", 2*time.Minute, phase(corev1.PodRunning)), "main")
	old := kubeletPID(c)
	if old == 0 {
		t.Fatal("no kubelet process")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The supervisor restarts it; wait for a new process with a fresh heartbeat.
	framework.Eventually(t, time.Minute, func() error {
		if pid := kubeletPID(c); pid == 0 || pid == old {
			return fmt.Errorf("kubelet not restarted yet")
		}
		return nil
	})
	restartedAt := time.Now()
	framework.Eventually(t, time.Minute, func() error {
		l, err := cs.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.RenewTime.Time.Before(restartedAt.Add(-time.Second)) {
			return fmt.Errorf("lease not renewed since the restart")
		}
		return nil
	})
	// Still the same container, still running, never restarted.
	framework.Eventually(t, 30*time.Second, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), "survivor", metav1.GetOptions{})
		if err != nil {
			return err
		}
		after := status(p, "main")
		if after.ContainerID != before.ContainerID || after.RestartCount != 0 || after.State.Running == nil {
			return fmt.Errorf("after restart: %+v (before %s)", after, before.ContainerID)
		}
		return nil
	})
	out := c.Kubectl(t).MustRun("logs", "-n", ns, "survivor", "--tail=1")
	if strings.TrimSpace(out) == "" {
		t.Fatal("no logs after the kubelet restart")
	}
}

// An archive imported with `drover image import` runs with imagePullPolicy Never.
func TestImportedArchiveRuns(t *testing.T) {
	c, cs, ns := setup(t)
	img, err := testimages.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	const ref = "drover.dev/e2e/imported:1"
	archive := filepath.Join(t.TempDir(), "imported.tar")
	if err := testimages.WriteOCIArchive(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	c.DroverCLI(t).MustRun("image", "import", "--state-dir", c.StateDir, archive)
	main := busybox("main", "echo imported-ok; sleep 3600")
	main.Image, main.ImagePullPolicy = ref, corev1.PullNever
	createPod(t, cs, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "imported"}, Spec: corev1.PodSpec{Containers: []corev1.Container{main}}})
	waitPod(t, cs, ns, "imported", 2*time.Minute, phase(corev1.PodRunning))
}
