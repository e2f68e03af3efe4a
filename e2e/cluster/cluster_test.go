package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// Scenario 1: a Deployment of 3 httpd replicas behind a ClusterIP Service; a client
// pod on another node reaches every replica through the ClusterIP and by DNS name;
// the host reaches every pod IP over its routes to the nodes' pod CIDRs.
func TestServiceAcrossNodes(t *testing.T) {
	e := setup(t)
	e.createDeployment(t, webDeployment("web", 3))
	svc := e.createService(t, service("web", "web", corev1.ServiceTypeClusterIP))
	pods := e.waitRunning(t, "web", 3, "")
	want := podNames(pods)

	client := e.otherNode(pods)
	e.clientPod(t, "client", client, fetchLoop(map[string]string{
		"ip":  "http://" + svc.Spec.ClusterIP + "/",
		"dns": "http://web." + e.ns + ".svc.cluster.local/",
	}))
	got := e.waitAnswers(t, "client", []string{"ip", "dns"}, want)
	crossNode := 0
	for _, p := range pods {
		if p.Spec.NodeName != client {
			crossNode++
		}
	}
	if crossNode == 0 {
		t.Fatalf("every replica runs on the client's node %s; nothing crossed nodes", client)
	}
	t.Logf("client on %s; %d of 3 replicas on other nodes; answers: %v", client, crossNode, got)

	for _, p := range pods {
		body, err := httpGet("http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(webPort)) + "/")
		if err != nil || body != p.Name {
			t.Errorf("host → pod %s (%s on %s) = %q, %v; want its name", p.Name, p.Status.PodIP, p.Spec.NodeName, body, err)
		}
	}
}

// Scenario 3: a NodePort answers on every node's address, also for replicas on other
// nodes; a headless Service resolves to the pod IPs.
func TestNodePortAndHeadlessService(t *testing.T) {
	e := setup(t)
	e.createDeployment(t, webDeployment("web", 3))
	np := e.createService(t, service("web-np", "web", corev1.ServiceTypeNodePort))
	headless := service("web-headless", "web", corev1.ServiceTypeClusterIP)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	e.createService(t, headless)
	pods := e.waitRunning(t, "web", 3, "")
	want := podNames(pods)
	port := np.Spec.Ports[0].NodePort
	if port == 0 {
		t.Fatal("the NodePort Service got no node port")
	}

	for _, n := range e.nodes {
		addr := framework.NodeInternalIP(&n)
		url := "http://" + net.JoinHostPort(addr, strconv.Itoa(int(port))) + "/"
		seen := map[string]bool{}
		framework.Eventually(t, 60*time.Second, func() error {
			body, err := httpGet(url)
			if err != nil {
				return err
			}
			seen[body] = true
			for _, w := range want {
				if !seen[w] {
					return fmt.Errorf("%s (node %s): answers so far %v, want all of %v", url, n.Name, seen, want)
				}
			}
			return nil
		})
	}

	e.clientPod(t, "resolver", e.nodes[0].Name,
		"while true; do nslookup web-headless."+e.ns+".svc.cluster.local | sed -n 's/^Address: //p'; sleep 0.5; done")
	framework.Eventually(t, 60*time.Second, func() error {
		lines, err := e.logLines("resolver")
		if err != nil {
			return err
		}
		resolved := map[string]bool{}
		for _, l := range lines {
			resolved[strings.TrimSpace(l)] = true
		}
		for _, p := range pods {
			if !resolved[p.Status.PodIP] {
				return fmt.Errorf("web-headless resolved to %v, lacks %s (%s)", resolved, p.Status.PodIP, p.Name)
			}
		}
		return nil
	})
}

// Scenario 4: kubectl logs, get -o wide with IP and NODE across nodes, describe with
// events.
func TestKubectlShowsPodsAcrossNodes(t *testing.T) {
	e := setup(t)
	k := e.c.Kubectl(t)
	e.createDeployment(t, webDeployment("web", 3))
	pods := e.waitRunning(t, "web", 3, "")
	e.clientPod(t, "talker", e.nodes[len(e.nodes)-1].Name, "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done")

	framework.Eventually(t, 30*time.Second, func() error {
		out := k.Run("logs", "-n", e.ns, "talker").Stdout
		if !strings.Contains(out, "line-3") {
			return fmt.Errorf("kubectl logs: %q", out)
		}
		return nil
	})

	wide := k.MustRun("get", "pods", "-n", e.ns, "-o", "wide")
	for _, p := range pods {
		var row string
		for _, l := range strings.Split(wide, "\n") {
			if strings.HasPrefix(l, p.Name+" ") {
				row = l
			}
		}
		if !strings.Contains(row, p.Status.PodIP) || !strings.Contains(row, p.Spec.NodeName) {
			t.Errorf("get pods -o wide row of %s lacks IP %s or NODE %s:\n%s", p.Name, p.Status.PodIP, p.Spec.NodeName, wide)
		}
	}

	framework.Eventually(t, 30*time.Second, func() error {
		desc := k.MustRun("describe", "pod", "-n", e.ns, pods[0].Name)
		for _, want := range []string{"Scheduled", "Started", "Node:", pods[0].Spec.NodeName, "IP:"} {
			if !strings.Contains(desc, want) {
				return fmt.Errorf("describe lacks %q:\n%s", want, desc)
			}
		}
		return nil
	})
}

// waitFetching waits until the client's log shows at least n successful fetches more
// than it had at the given count.
func (e *env) successes(t *testing.T, client, label string) (ok, fail int) {
	t.Helper()
	lines, err := e.logLines(client)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		switch {
		case l == label+" FAIL":
			fail++
		case strings.HasPrefix(l, label+" "):
			ok++
		}
	}
	return ok, fail
}

// Scenario 2: kubectl scale up and down; kubectl set image rolls without dropping
// below what the strategy allows while a client probes; rollout undo restores.
func TestScaleRollAndUndo(t *testing.T) {
	e := setup(t)
	k := e.c.Kubectl(t)
	e.createDeployment(t, webDeployment("web", 3))
	svc := e.createService(t, service("web", "web", corev1.ServiceTypeClusterIP))
	e.waitRunning(t, "web", 3, image)

	k.MustRun("scale", "-n", e.ns, "deployment/web", "--replicas=6")
	six := e.waitRunning(t, "web", 6, image)
	nodes := map[string]bool{}
	for _, p := range six {
		nodes[p.Spec.NodeName] = true
	}
	t.Logf("6 replicas on %d nodes", len(nodes))
	k.MustRun("scale", "-n", e.ns, "deployment/web", "--replicas=2")
	e.waitRunning(t, "web", 2, image)

	e.clientPod(t, "prober", e.nodes[0].Name, fetchLoop(map[string]string{"ip": "http://" + svc.Spec.ClusterIP + "/"}))
	framework.Eventually(t, 30*time.Second, func() error {
		if ok, _ := e.successes(t, "prober", "ip"); ok < 3 {
			return fmt.Errorf("prober: %d successes", ok)
		}
		return nil
	})

	// Two replicas with the default strategy (25% unavailable rounds down to 0, 25%
	// surge up to 1): never fewer than 2 available while it rolls.
	k.MustRun("set", "image", "-n", e.ns, "deployment/web", "httpd="+imageV2)
	minAvailable, rolled := e.watchRollout(t, "web", 2, imageV2)
	if !rolled {
		t.Fatalf("rollout to %s did not finish", imageV2)
	}
	if minAvailable < 2 {
		t.Errorf("available replicas dropped to %d during the rollout; the strategy allows no fewer than 2", minAvailable)
	}
	e.waitRunning(t, "web", 2, imageV2)
	// The Service kept answering: the prober succeeded after the rollout too.
	okBefore, _ := e.successes(t, "prober", "ip")
	framework.Eventually(t, 30*time.Second, func() error {
		if ok, _ := e.successes(t, "prober", "ip"); ok < okBefore+3 {
			return fmt.Errorf("prober: %d successes, want %d", ok, okBefore+3)
		}
		return nil
	})
	ok, fail := e.successes(t, "prober", "ip")
	t.Logf("prober during scale and rollout: %d answers, %d failures", ok, fail)

	k.MustRun("rollout", "undo", "-n", e.ns, "deployment/web")
	e.waitRunning(t, "web", 2, image)
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("after rollout undo the template has image %s, want %s", got, image)
	}
}

// watchRollout polls the Deployment until all replicas are updated to img and
// available, and returns the fewest available replicas it saw meanwhile.
func (e *env) watchRollout(t *testing.T, name string, replicas int32, img string) (int32, bool) {
	t.Helper()
	minAvailable := replicas
	deadline := time.Now().Add(podsTimeout)
	for time.Now().Before(deadline) {
		d, err := e.cs.AppsV1().Deployments(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods, err := e.livePods(name)
		if err != nil {
			t.Fatal(err)
		}
		// Count what serves: running pods with an IP and Ready.
		available := int32(0)
		updated := int32(0)
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				available++
				if p.Spec.Containers[0].Image == img {
					updated++
				}
			}
		}
		minAvailable = min(minAvailable, available)
		if updated == replicas && int32(len(pods)) == replicas && d.Status.UpdatedReplicas == replicas {
			return minAvailable, true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return minAvailable, false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
