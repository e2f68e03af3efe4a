package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
)

const (
	// podsTimeout bounds the wait for pods to run; images are local, so it is
	// mostly the scheduler and the kubelets.
	podsTimeout = 90 * time.Second
	// webPort is where the web pods' httpd listens.
	webPort = 8080
)

// env is what a test works with.
type env struct {
	c     *framework.Cluster
	cs    kubernetes.Interface
	ns    string
	nodes []corev1.Node
}

// setup waits for the nodes, imports the images (once) and gives the test a namespace.
func setup(t *testing.T) *env {
	t.Helper()
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	nodes := framework.WaitNodesReady(t, cs, numNodes, 2*time.Minute)
	importImages(t, c)
	return &env{c: c, cs: cs, ns: framework.TestNamespace(t, cs), nodes: nodes}
}

// webDeployment is n busybox httpd replicas answering with their pod name; their
// pods tolerate an unreachable node for 2s only, so node loss evicts them quickly.
func webDeployment(name string, n int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	tolerate := int64(2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate},
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate},
					},
					Containers: []corev1.Container{{
						Name:            "httpd",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"sh", "-c", fmt.Sprintf(
							"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p %d -h /www", webPort)},
						Ports: []corev1.ContainerPort{{ContainerPort: webPort}},
					}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// service is a Service selecting app=name on port 80 → webPort.
func service(name, selector string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": selector},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(webPort)}},
		},
	}
}

func (e *env) createDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if _, err := e.cs.AppsV1().Deployments(e.ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) createService(t *testing.T, s *corev1.Service) *corev1.Service {
	t.Helper()
	s, err := e.cs.CoreV1().Services(e.ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// livePods are the pods of app=name that are not being deleted.
func (e *env) livePods(name string) ([]corev1.Pod, error) {
	list, err := e.cs.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{"app": name}).String(),
	})
	if err != nil {
		return nil, err
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			live = append(live, p)
		}
	}
	return live, nil
}

// waitRunning waits until exactly n live pods of app=name run, with an IP, all with
// image img when it is not empty, and returns them.
func (e *env) waitRunning(t *testing.T, name string, n int, img string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	framework.Eventually(t, podsTimeout, func() error {
		var err error
		if pods, err = e.livePods(name); err != nil {
			return err
		}
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && (img == "" || p.Spec.Containers[0].Image == img) {
				running++
			}
		}
		if running != n || len(pods) != n {
			return fmt.Errorf("%d live pods of %s, %d running (want %d)", len(pods), name, running, n)
		}
		return nil
	})
	return pods
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// clientPod runs script in a busybox pod on node and waits until it runs.
func (e *env) clientPod(t *testing.T, name, node, script string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "client", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", script},
			}},
		},
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, podsTimeout, func() error {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("client pod %s is %s", name, p.Status.Phase)
		}
		return nil
	})
}

// fetchLoop is a client script: every 200ms it fetches each URL and prints
// "<label> <answer>", "<label> FAIL" when the fetch failed. busybox wget has no
// usable timeout flag here, so timeout(1) bounds it.
func fetchLoop(targets map[string]string) string {
	var b strings.Builder
	b.WriteString("while true; do ")
	for label, url := range targets {
		fmt.Fprintf(&b, `a=$(timeout 3 wget -qO- %s 2>/dev/null) && echo "%s $a" || echo "%s FAIL"; `, url, label, label)
	}
	b.WriteString("sleep 0.2; done")
	return b.String()
}

// logLines returns the pod's log (through the apiserver and the node's kubelet).
func (e *env) logLines(pod string) ([]string, error) {
	rc, err := e.cs.CoreV1().Pods(e.ns).GetLogs(pod, &corev1.PodLogOptions{}).Stream(context.Background())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// answers collects, per label, the set of answers in a fetchLoop log.
func answers(lines []string) map[string]map[string]int {
	got := map[string]map[string]int{}
	for _, l := range lines {
		label, answer, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		if got[label] == nil {
			got[label] = map[string]int{}
		}
		got[label][answer]++
	}
	return got
}

// waitAnswers waits until the client's log shows every one of want answering under
// every label.
func (e *env) waitAnswers(t *testing.T, client string, labelsWanted []string, want []string) map[string]map[string]int {
	t.Helper()
	var got map[string]map[string]int
	framework.Eventually(t, 60*time.Second, func() error {
		lines, err := e.logLines(client)
		if err != nil {
			return err
		}
		got = answers(lines)
		for _, l := range labelsWanted {
			for _, w := range want {
				if got[l][w] == 0 {
					return fmt.Errorf("%s: no answer from %s yet via %s (answers: %v)", client, w, l, got[l])
				}
			}
		}
		return nil
	})
	return got
}

// httpGet fetches url from the host (the test process) with a short timeout.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

// otherNode returns a node that runs none of the pods, or else the one that runs
// fewest, so that a client there reaches most replicas across nodes.
func (e *env) otherNode(pods []corev1.Pod) string {
	count := map[string]int{}
	for _, p := range pods {
		count[p.Spec.NodeName]++
	}
	best := e.nodes[0].Name
	for _, n := range e.nodes {
		if count[n.Name] < count[best] {
			best = n.Name
		}
	}
	return best
}
