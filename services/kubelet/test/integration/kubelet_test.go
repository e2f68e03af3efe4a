// Package integration runs drover-kubelet (hollow runtime) in-process
// against a real apiserver and etcd, driven with client-go.
package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/kubelet/app/options"
	kltesting "drover.dev/kubelet/app/testing"
)

func eventually(t *testing.T, timeout time.Duration, what string, fn func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := fn()
		if ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
}

func start(t *testing.T) (kubernetes.Interface, *apitesting.TestServer) {
	api := apitesting.StartTestServer(t, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs, api
}

func condition(n *v1.Node, t v1.NodeConditionType) *v1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func TestNodeRegistersHeartbeatsAndStopsNotReady(t *testing.T) {
	cs, api := start(t)
	ctx := context.Background()
	kl := kltesting.StartTestServer(t, api.Config, "node-a", nil)

	n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(n, v1.NodeReady); c == nil || c.Status != v1.ConditionTrue || c.Reason != "KubeletReady" {
		t.Fatalf("Ready condition: %+v", c)
	}
	for _, typ := range []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		if c := condition(n, typ); c == nil || c.Status != v1.ConditionFalse {
			t.Fatalf("%s condition: %+v", typ, c)
		}
	}
	if n.Labels[v1.LabelHostname] != "node-a" || n.Labels[v1.LabelOSStable] != "linux" || n.Labels[v1.LabelArchStable] == "" {
		t.Fatalf("labels: %v", n.Labels)
	}
	if cpu := n.Status.Capacity.Cpu().String(); cpu != "8" {
		t.Fatalf("hollow cpu capacity %s", cpu)
	}
	if n.Status.Allocatable.Pods().Value() != 110 {
		t.Fatalf("pods allocatable %v", n.Status.Allocatable.Pods())
	}
	if n.Status.NodeInfo.KernelVersion == "" || n.Status.NodeInfo.ContainerRuntimeVersion != "hollow://0.1.0" || n.Status.NodeInfo.KubeletVersion == "" {
		t.Fatalf("nodeInfo: %+v", n.Status.NodeInfo)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 || len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Address != "127.0.0.1" {
		t.Fatalf("endpoints %+v addresses %+v", n.Status.DaemonEndpoints, n.Status.Addresses)
	}
	if n.Spec.PodCIDR != "10.244.0.0/24" {
		t.Fatalf("podCIDR %q", n.Spec.PodCIDR)
	}
	var lease *coordinationv1.Lease
	eventually(t, 10*time.Second, "node lease", func() (bool, error) {
		lease, err = cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil, err
	})
	if *lease.Spec.HolderIdentity != "node-a" || lease.Spec.RenewTime == nil || *lease.Spec.LeaseDurationSeconds != 40 {
		t.Fatalf("lease: %+v", lease.Spec)
	}

	kl.Stop()
	n, err = cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(n, v1.NodeReady); c == nil || c.Status != v1.ConditionFalse || c.Reason != "KubeletStopped" {
		t.Fatalf("after stop, Ready: %+v", c)
	}
}

func newPod(name, node string, mutate ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{
			NodeName:   node,
			Containers: []v1.Container{{Name: "main", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func waitPhase(t *testing.T, cs kubernetes.Interface, name string, phase v1.PodPhase) *v1.Pod {
	t.Helper()
	var pod *v1.Pod
	eventually(t, 20*time.Second, name+" "+string(phase), func() (bool, error) {
		var err error
		pod, err = cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == phase, err
	})
	return pod
}

func TestPodRunsReportsStatusAndIsDeletedGracefully(t *testing.T) {
	cs, api := start(t)
	ctx := context.Background()
	kl := kltesting.StartTestServer(t, api.Config, "node-a", nil)

	_, err := cs.CoreV1().Pods("default").Create(ctx, newPod("web", "node-a", func(p *v1.Pod) {
		p.Spec.InitContainers = []v1.Container{{Name: "setup", Image: "busybox:1.35", Command: []string{"true"}}}
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "side", Image: "busybox:1.35", Command: []string{"sleep", "1d"}})
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := waitPhase(t, cs, "web", v1.PodRunning)
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !netip.MustParsePrefix("10.244.0.0/24").Contains(ip) {
		t.Fatalf("podIP %q not in the node's CIDR", pod.Status.PodIP)
	}
	if pod.Status.HostIP != "127.0.0.1" || pod.Status.StartTime == nil || pod.Status.QOSClass != v1.PodQOSBestEffort {
		t.Fatalf("status: hostIP %q startTime %v qos %q", pod.Status.HostIP, pod.Status.StartTime, pod.Status.QOSClass)
	}
	eventually(t, 10*time.Second, "ready", func() (bool, error) {
		pod, err = cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", pod.Status.Conditions)
	})
	if len(pod.Status.ContainerStatuses) != 2 || len(pod.Status.InitContainerStatuses) != 1 {
		t.Fatalf("statuses: %+v / %+v", pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses)
	}
	if init := pod.Status.InitContainerStatuses[0]; init.State.Terminated == nil || init.State.Terminated.Reason != "Completed" {
		t.Fatalf("init status: %+v", init.State)
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running == nil || !c.Ready || c.ContainerID == "" || c.RestartCount != 0 {
			t.Fatalf("container %s: %+v", c.Name, c)
		}
	}
	eventually(t, 10*time.Second, "events", func() (bool, error) {
		events, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
		if err != nil {
			return false, err
		}
		reasons := map[string]int{}
		for _, e := range events.Items {
			reasons[e.Reason] += int(e.Count)
		}
		return reasons["Started"] >= 3 && reasons["Created"] >= 3, fmt.Errorf("events: %v", reasons)
	})

	// The kubelet API lists the pod and serves its (empty) logs.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(kl.APIURL + "/containerLogs/default/web/main")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("containerLogs: %s", resp.Status)
	}
	resp, err = client.Get(kl.APIURL + "/containerLogs/default/web/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("logs of an unknown container: %s", resp.Status)
	}

	// pods/log goes through the apiserver to the kubelet.
	logs, err := cs.CoreV1().Pods("default").GetLogs("web", &v1.PodLogOptions{Container: "main"}).DoRaw(ctx)
	if err != nil || string(logs) != "hollow container main started\n" {
		t.Fatalf("pods/log: %q %v", logs, err)
	}
	err = cs.CoreV1().Pods("default").GetLogs("web", &v1.PodLogOptions{}).Do(ctx).Error()
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "a container name must be specified for pod web, choose one of: [main side] or one of the init containers: [setup]") {
		t.Fatalf("pods/log without a container: %v", err)
	}
	neg := int64(-1)
	err = cs.CoreV1().Pods("default").GetLogs("web", &v1.PodLogOptions{Container: "main", TailLines: &neg}).Do(ctx).Error()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("negative tailLines: %v", err)
	}

	// A graceful delete is confirmed by the kubelet once the pod stopped.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "pod gone", func() (bool, error) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

func TestRestartPolicyNeverEndsInSucceededAndPodsOfOtherNodesAreIgnored(t *testing.T) {
	cs, api := start(t)
	ctx := context.Background()
	kltesting.StartTestServer(t, api.Config, "node-a", nil)
	// Hollow init containers end at once; a pod of only an init container
	// and restartPolicy Never still needs an app container to run: so use
	// the app container, stopped by deleting... instead check a pod bound
	// elsewhere stays untouched.
	if _, err := cs.CoreV1().Pods("default").Create(ctx, newPod("elsewhere", "node-b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, newPod("here", "node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, cs, "here", v1.PodRunning)
	p, err := cs.CoreV1().Pods("default").Get(ctx, "elsewhere", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != v1.PodPending || p.Status.PodIP != "" {
		t.Fatalf("a pod of node-b was touched: %+v", p.Status)
	}
}

func TestStaticPodRunsAndIsMirrored(t *testing.T) {
	cs, api := start(t)
	ctx := context.Background()
	dir := t.TempDir()
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels: {app: static}
spec:
  containers:
  - name: web
    image: busybox:1.35
    command: ["httpd", "-f"]
`
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	kltesting.StartTestServer(t, api.Config, "node-a", func(o *options.Options) {
		o.PodManifestPath = dir
		o.FileCheckFrequency = 200 * time.Millisecond
	})
	mirror := waitPhase(t, cs, "static-web-node-a", v1.PodRunning)
	if mirror.Annotations["kubernetes.io/config.mirror"] == "" || mirror.Annotations["kubernetes.io/config.source"] != "file" ||
		len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" {
		t.Fatalf("mirror pod metadata: %+v %+v", mirror.Annotations, mirror.OwnerReferences)
	}
	firstUID := mirror.UID
	// A deleted mirror pod comes back; the static pod keeps running.
	zero := int64(0)
	if err := cs.CoreV1().Pods("default").Delete(ctx, mirror.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "mirror recreated", func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, mirror.Name, metav1.GetOptions{})
		return err == nil && p.UID != firstUID && p.Status.Phase == v1.PodRunning, err
	})
	// Removing the manifest removes the pod and its mirror.
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "mirror gone", func() (bool, error) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, mirror.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}
