// Package integration drives an in-process apiserver on a real embedded etcd
// with client-go.
package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	apiservertesting "drover.dev/apiserver/app/testing"
)

func startServer(t *testing.T) (*apiservertesting.TestServer, kubernetes.Interface) {
	t.Helper()
	ts := apiservertesting.StartTestServer(t, "", nil)
	cs, err := kubernetes.NewForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	return ts, cs
}

func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v: %v", timeout, err)
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func testDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
}

func TestSystemNamespacesAndKubernetesService(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		eventually(t, 10*time.Second, func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return err
		})
	}
	eventually(t, 10*time.Second, func() error {
		svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if svc.Spec.ClusterIP != "10.96.0.1" {
			return fmt.Errorf("kubernetes service IP %q", svc.Spec.ClusterIP)
		}
		return nil
	})
}

func TestPodCRUD(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	created, err := pods.Create(ctx, testPod("p1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("server fields missing: %+v", created.ObjectMeta)
	}
	if created.Spec.RestartPolicy != corev1.RestartPolicyAlways || created.Spec.SchedulerName != "default-scheduler" || created.Spec.ServiceAccountName != "default" {
		t.Fatalf("defaults missing: %+v", created.Spec)
	}
	if created.Status.Phase != corev1.PodPending {
		t.Fatalf("phase %q", created.Status.Phase)
	}
	if _, err := pods.Create(ctx, testPod("p1"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v", err)
	}
	got, err := pods.Get(ctx, "p1", metav1.GetOptions{})
	if err != nil || got.UID != created.UID {
		t.Fatalf("get: %v %v", err, got)
	}
	got.Labels["tier"] = "front"
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion == got.ResourceVersion {
		t.Fatal("resourceVersion did not change")
	}
	// A stale update conflicts.
	got.Labels["tier"] = "back"
	if _, err := pods.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v", err)
	}
	patched, err := pods.Patch(ctx, "p1", types.MergePatchType, []byte(`{"metadata":{"annotations":{"a":"b"}}}`), metav1.PatchOptions{})
	if err != nil || patched.Annotations["a"] != "b" {
		t.Fatalf("merge patch: %v", err)
	}
	patched, err = pods.Patch(ctx, "p1", types.JSONPatchType, []byte(`[{"op":"add","path":"/metadata/labels/x","value":"y"}]`), metav1.PatchOptions{})
	if err != nil || patched.Labels["x"] != "y" {
		t.Fatalf("json patch: %v", err)
	}
	patched, err = pods.Patch(ctx, "p1", types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`), metav1.PatchOptions{})
	if err != nil || patched.Spec.Containers[0].Image != "busybox:2" {
		t.Fatalf("strategic patch: %v", err)
	}
	// Unscheduled pods are deleted at once.
	if err := pods.Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestGracefulPodDeletionAndFinalizers(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	p := testPod("bound")
	p.Spec.NodeName = "node-1"
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("pod should be marked: %v %+v", err, got)
	}
	zero := int64(0)
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after grace 0: %v", err)
	}

	cms := cs.CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got2, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil || got2.DeletionTimestamp == nil {
		t.Fatalf("configmap should be marked: %v", err)
	}
	got2.Finalizers = nil
	if _, err := cms.Update(ctx, got2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after removing finalizer: %v", err)
	}
}

func TestDeploymentScaleAndStatusSplit(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	deps := cs.AppsV1().Deployments("default")
	d, err := deps.Create(ctx, testDeployment("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Generation != 1 {
		t.Fatalf("defaults: %+v", d.Spec)
	}
	// The main resource ignores status.
	d.Status.Replicas = 7
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 0 {
		t.Fatalf("status leaked through main update: %v %v", err, d.Status)
	}
	d.Status.Replicas = 7
	d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 7 || d.Generation != 1 {
		t.Fatalf("status update: %v %+v", err, d)
	}
	s, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || s.Spec.Replicas != 1 || s.Status.Selector != "app=web" {
		t.Fatalf("scale: %v %+v", err, s)
	}
	s.Spec.Replicas = 4
	if _, err := deps.UpdateScale(ctx, "web", s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ = deps.Get(ctx, "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 4 || d.Generation != 2 {
		t.Fatalf("after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	// The selector must match the template labels.
	bad := testDeployment("bad")
	bad.Spec.Template.Labels = map[string]string{"app": "other"}
	_, err = deps.Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template.metadata.labels") {
		t.Fatalf("invalid deployment: %v", err)
	}
}

func TestServiceAllocationIsUniqueUnderConcurrency(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
					Ports: []corev1.ServicePort{{Port: 80}}},
			}
			_, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, err := cs.CoreV1().Services("default").List(ctx, metav1.ListOptions{LabelSelector: ""})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]bool{}, map[int32]bool{}
	for _, s := range list.Items {
		if ips[s.Spec.ClusterIP] {
			t.Fatalf("duplicate IP %s", s.Spec.ClusterIP)
		}
		ips[s.Spec.ClusterIP] = true
		for _, p := range s.Spec.Ports {
			if p.NodePort == 0 && s.Spec.Type == corev1.ServiceTypeNodePort {
				t.Fatalf("no node port on %s", s.Name)
			}
			if p.NodePort != 0 && ports[p.NodePort] {
				t.Fatalf("duplicate node port %d", p.NodePort)
			}
			ports[p.NodePort] = true
			if p.NodePort != 0 && (p.NodePort < 30000 || p.NodePort > 32767) {
				t.Fatalf("node port %d out of range", p.NodePort)
			}
		}
	}
	if len(list.Items) != n+1 {
		t.Fatalf("got %d services", len(list.Items))
	}
}

func TestListSelectorsAndPaging(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	for i := range 50 {
		p := testPod(fmt.Sprintf("p-%02d", i))
		p.Labels = map[string]string{"idx": fmt.Sprint(i % 5)}
		if i%2 == 0 {
			p.Spec.NodeName = "node-a"
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		opts metav1.ListOptions
		want int
	}{
		{"all", metav1.ListOptions{}, 50},
		{"equals", metav1.ListOptions{LabelSelector: "idx=1"}, 10},
		{"in", metav1.ListOptions{LabelSelector: "idx in (1,2)"}, 20},
		{"notin", metav1.ListOptions{LabelSelector: "idx notin (1,2)"}, 30},
		{"not equals", metav1.ListOptions{LabelSelector: "idx!=0"}, 40},
		{"exists", metav1.ListOptions{LabelSelector: "idx"}, 50},
		{"not exists", metav1.ListOptions{LabelSelector: "!idx"}, 0},
		{"nodeName", metav1.ListOptions{FieldSelector: "spec.nodeName=node-a"}, 25},
		{"name", metav1.ListOptions{FieldSelector: "metadata.name=p-07"}, 1},
		{"phase", metav1.ListOptions{FieldSelector: "status.phase=Pending"}, 50},
		{"both", metav1.ListOptions{LabelSelector: "idx=0", FieldSelector: "spec.nodeName=node-a"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := pods.List(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != tt.want {
				t.Fatalf("got %d want %d", len(l.Items), tt.want)
			}
		})
	}
	if _, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field: %v", err)
	}
	seen := map[string]bool{}
	opts := metav1.ListOptions{Limit: 7}
	pages := 0
	for {
		l, err := pods.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range l.Items {
			if seen[p.Name] {
				t.Fatalf("duplicate %s", p.Name)
			}
			seen[p.Name] = true
		}
		// A write between pages must not show up in the snapshot.
		if pages == 2 {
			if _, err := pods.Create(ctx, testPod("zz-late"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if len(seen) != 50 || pages != 8 {
		t.Fatalf("paging saw %d objects in %d pages", len(seen), pages)
	}
}

func TestWatchFromResourceVersion(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b", "c"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cms.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := []string{"ADDED b", "ADDED c", "DELETED b"}
	for _, exp := range want {
		select {
		case ev := <-w.ResultChan():
			cm := ev.Object.(*corev1.ConfigMap)
			if got := string(ev.Type) + " " + cm.Name; got != exp {
				t.Fatalf("got %s want %s", got, exp)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %s", exp)
		}
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "d" {
			t.Fatalf("live event %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live event")
	}
}

func TestBadInputGetsStatus(t *testing.T) {
	ts, _ := startServer(t)
	tests := []struct {
		name, method, path, ctype, body string
		code                            int
	}{
		{"bad json", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"metadata":`, 400},
		{"wrong kind", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, 400},
		{"bad name", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"metadata":{"name":"Not_Valid"}}`, 422},
		{"strict unknown field", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", `{"metadata":{"name":"x"},"bogus":1}`, 400},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/configmaps", "application/json", `{"metadata":{"name":"x"}}`, 404},
		{"unsupported media", "POST", "/api/v1/namespaces/default/configmaps", "text/plain", `x`, 415},
		{"unknown resource", "GET", "/api/v1/bogus", "", ``, 404},
		{"too large", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"metadata":{"name":"big"},"data":{"a":"` + strings.Repeat("x", 3*1024*1024) + `"}}`, 413},
		{"bad label selector", "GET", "/api/v1/pods?labelSelector=a%20in%20(", "", ``, 400},
		{"method", "PUT", "/api/v1/namespaces/default/configmaps", "application/json", `{}`, 405},
		{"delete default ns", "DELETE", "/api/v1/namespaces/default", "", ``, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := ts.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("code %d want %d: %s", resp.StatusCode, tt.code, body)
			}
			if !strings.Contains(string(body), `"kind":"Status"`) {
				t.Fatalf("not a Status: %s", body)
			}
		})
	}
}

func startServerA(t *testing.T) *apiservertesting.TestServer {
	return apiservertesting.StartTestServer(t, "", nil)
}

func apiservertestingStart(t *testing.T, etcdURL string) *apiservertesting.TestServer {
	return apiservertesting.StartTestServer(t, etcdURL, nil)
}

func TestPriorityAdmission(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	for _, name := range []string{"system-cluster-critical", "system-node-critical"} {
		if _, err := cs.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("system priority class %s: %v", name, err)
		}
	}
	never := corev1.PreemptNever
	if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "hi"}, Value: 1000, PreemptionPolicy: &never}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := testPod("prio")
	p.Spec.PriorityClassName = "hi"
	got, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Priority == nil || *got.Spec.Priority != 1000 || *got.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Fatalf("priority %v policy %v", got.Spec.Priority, got.Spec.PreemptionPolicy)
	}
	plain, err := cs.CoreV1().Pods("default").Create(ctx, testPod("plain"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Spec.Priority == nil || *plain.Spec.Priority != 0 || *plain.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("default priority %v policy %v", plain.Spec.Priority, plain.Spec.PreemptionPolicy)
	}
	bad := testPod("bad-prio")
	bad.Spec.PriorityClassName = "missing"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unknown class: %v", err)
	}
}

// TestWatchersOfSameObjects: many watchers of the same objects each get
// every change in order with its resourceVersion, and a selector watcher
// sees its own view (an update that makes the object match is ADDED).
func TestWatchersOfSameObjects(t *testing.T) {
	_, cs := startServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Labels: map[string]string{"app": "db"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []watch.Interface
	for range 5 {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		all = append(all, w)
	}
	web, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer web.Stop()
	var rvs []string
	for i, app := range []string{"db", "web", "web"} {
		cm, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Labels: map[string]string{"app": app}},
			Data: map[string]string{"n": fmt.Sprint(i)}}, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rvs = append(rvs, cm.ResourceVersion)
	}
	next := func(w watch.Interface) (watch.EventType, *corev1.ConfigMap) {
		t.Helper()
		select {
		case ev := <-w.ResultChan():
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				t.Fatalf("event %s with %T", ev.Type, ev.Object)
			}
			return ev.Type, cm
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return "", nil
	}
	for wi, w := range all {
		for i, rv := range rvs {
			typ, cm := next(w)
			if typ != watch.Modified || cm.ResourceVersion != rv || cm.Data["n"] != fmt.Sprint(i) {
				t.Errorf("watcher %d event %d: %s rv=%s n=%s, want MODIFIED rv=%s n=%d", wi, i, typ, cm.ResourceVersion, cm.Data["n"], rv, i)
			}
		}
	}
	for i, want := range []watch.EventType{watch.Added, watch.Modified} {
		typ, cm := next(web)
		if typ != want || cm.ResourceVersion != rvs[i+1] || cm.Labels["app"] != "web" {
			t.Errorf("selector watcher event %d: %s rv=%s app=%s, want %s rv=%s app=web", i, typ, cm.ResourceVersion, cm.Labels["app"], want, rvs[i+1])
		}
	}
}
