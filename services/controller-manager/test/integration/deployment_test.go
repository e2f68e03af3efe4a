package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"drover.dev/controller-manager/app/options"
	"drover.dev/libs/hollow"
)

var deploymentKind = schema.GroupKind{Group: "apps", Kind: "Deployment"}

func newDeployment(name string, replicas int32, surge, unavailable intstr.IntOrString) *apps.Deployment {
	labels := map[string]string{"app": name}
	return &apps.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kubernetes.io/change-cause": "create"}},
		Spec: apps.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "nginx:1"),
			Strategy: apps.DeploymentStrategy{Type: apps.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &apps.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
		},
	}
}

// rolloutStatus asks kubectl's own status viewer, as `kubectl rollout status` does.
func rolloutStatus(e *env, ns, name string) (string, bool, error) {
	d, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", false, err
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return "", false, err
	}
	sv, err := polymorphichelpers.StatusViewerFor(deploymentKind)
	if err != nil {
		return "", false, err
	}
	return sv.Status(&unstructured.Unstructured{Object: u}, 0)
}

func waitRolledOut(t *testing.T, e *env, ns, name string) {
	t.Helper()
	eventually(t, 90*time.Second, func() error {
		msg, done, err := rolloutStatus(e, ns, name)
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("rollout: %s", msg)
		}
		if !strings.Contains(msg, "successfully rolled out") {
			return fmt.Errorf("rollout: %s", msg)
		}
		return nil
	})
}

func setImage(t *testing.T, e *env, ns, name, image string, mutate ...func(*apps.Deployment)) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		d, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if image != "" {
			d.Spec.Template.Spec.Containers[0].Image = image
			d.Annotations["kubernetes.io/change-cause"] = "image " + image
		}
		for _, m := range mutate {
			m(d)
		}
		_, err = e.client.AppsV1().Deployments(ns).Update(e.ctx, d, metav1.UpdateOptions{})
		return err
	})
}

// boundsWatcher checks every observed pod state of selector against the
// rolling update bounds.
type boundsWatcher struct {
	mu         sync.Mutex
	pods       map[string]*v1.Pod
	violations []string
	maxTotal   int
	minReady   int
	seenTotal  int
	seenReady  int
}

func watchBounds(t *testing.T, e *env, ns, selector string, maxTotal, minReady int) (*boundsWatcher, func()) {
	t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	b := &boundsWatcher{pods: map[string]*v1.Pod{}, maxTotal: maxTotal, minReady: minReady, seenReady: 1 << 30}
	for i := range list.Items {
		b.pods[list.Items[i].Name] = &list.Items[i]
	}
	w, err := e.client.CoreV1().Pods(ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if !ok {
				continue
			}
			b.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(b.pods, p.Name)
			} else {
				b.pods[p.Name] = p
			}
			b.check(fmt.Sprintf("%s %s", ev.Type, p.Name))
			b.mu.Unlock()
		}
	}()
	return b, func() { w.Stop(); <-done }
}

func (b *boundsWatcher) check(what string) {
	total, ready := 0, 0
	for _, p := range b.pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		total++
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
				ready++
			}
		}
	}
	b.seenTotal = max(b.seenTotal, total)
	b.seenReady = min(b.seenReady, ready)
	if total > b.maxTotal || ready < b.minReady {
		b.violations = append(b.violations, fmt.Sprintf("after %s: %d pods, %d ready (bounds %d, %d)", what, total, ready, b.maxTotal, b.minReady))
	}
}

func TestDeploymentRollingUpdateRollbackPause(t *testing.T) {
	e := setup(t, 3, func(o *options.Options) { o.Controllers = []string{"replicaset", "deployment"} })
	ns := newNamespace(t, e, "deploy")
	d := newDeployment("web", 6, intstr.FromInt32(2), intstr.FromInt32(1))
	if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "web")
	// As on Kubernetes, `kubectl describe` shows the scaling as events.
	eventually(t, 30*time.Second, func() error {
		evs, err := e.client.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == "web" && ev.Reason == "ScalingReplicaSet" &&
				strings.HasPrefix(ev.Message, "Scaled up replica set web-") && ev.Source.Component == "deployment-controller" {
				return nil
			}
		}
		return fmt.Errorf("no ScalingReplicaSet event among %d", len(evs.Items))
	})

	b, stop := watchBounds(t, e, ns, "app=web", 8, 5)
	setImage(t, e, ns, "web", "nginx:2")
	waitRolledOut(t, e, ns, "web")
	stop()
	if len(b.violations) > 0 {
		t.Fatalf("rolling update broke its bounds:\n%s", strings.Join(b.violations, "\n"))
	}
	t.Logf("rolling update: at most %d pods, at least %d ready", b.seenTotal, b.seenReady)
	if b.seenTotal <= 6 {
		t.Errorf("rollout never surged (max %d pods)", b.seenTotal)
	}

	hv, err := polymorphichelpers.HistoryViewerFor(deploymentKind, e.client)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := hv.ViewHistory(ns, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hist, "1         create") || !strings.Contains(hist, "2         image nginx:2") {
		t.Fatalf("rollout history:\n%s", hist)
	}

	// kubectl rollout undo: the client patches the template back.
	rb, err := polymorphichelpers.RollbackerFor(deploymentKind, e.client)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rollback(cur, nil, 1, util.DryRunNone); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "web")
	rss, err := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 2 {
		t.Fatalf("%d replica sets after rollback, want 2", len(rss.Items))
	}
	for _, rs := range rss.Items {
		img := rs.Spec.Template.Spec.Containers[0].Image
		rev := rs.Annotations["deployment.kubernetes.io/revision"]
		switch {
		case img == "nginx:1" && (rev != "3" || *rs.Spec.Replicas != 6 || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1"):
			t.Errorf("rolled back rs %s: revision %s history %q replicas %d", rs.Name, rev, rs.Annotations["deployment.kubernetes.io/revision-history"], *rs.Spec.Replicas)
		case img == "nginx:2" && (rev != "2" || *rs.Spec.Replicas != 0):
			t.Errorf("old rs %s: revision %s replicas %d", rs.Name, rev, *rs.Spec.Replicas)
		}
	}
	if got, _ := e.client.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{}); got.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Errorf("deployment revision %q, want 3", got.Annotations["deployment.kubernetes.io/revision"])
	}

	// Paused: a template change rolls nothing out until resumed.
	setImage(t, e, ns, "web", "", func(d *apps.Deployment) { d.Spec.Paused = true })
	setImage(t, e, ns, "web", "nginx:3")
	eventually(t, 30*time.Second, func() error {
		d, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == apps.DeploymentProgressing && c.Reason == "DeploymentPaused" && d.Status.ObservedGeneration == d.Generation {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", d.Status.Conditions)
	})
	if rss, _ := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=web"}); len(rss.Items) != 2 {
		t.Fatalf("paused deployment created a replica set")
	}
	setImage(t, e, ns, "web", "", func(d *apps.Deployment) { d.Spec.Paused = false })
	waitRolledOut(t, e, ns, "web")

	// revisionHistoryLimit 1 leaves one old ReplicaSet.
	setImage(t, e, ns, "web", "nginx:4", func(d *apps.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(1)) })
	waitRolledOut(t, e, ns, "web")
	eventually(t, 30*time.Second, func() error {
		rss, err := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		if len(rss.Items) != 2 {
			return fmt.Errorf("%d replica sets, want 2", len(rss.Items))
		}
		return nil
	})
}

func TestDeploymentRecreateProportionalAndDeadline(t *testing.T) {
	e := setup(t, 3, func(o *options.Options) { o.Controllers = []string{"replicaset", "deployment"} },
		func(o *hollow.Options) {
			o.NotReady = func(p *v1.Pod) bool { return p.Spec.Containers[0].Image == "broken" }
		})
	ns := newNamespace(t, e, "deploy")

	// Recreate: old and new pods never run together.
	d := newDeployment("batch", 4, intstr.FromInt32(0), intstr.FromInt32(0))
	d.Spec.Strategy = apps.DeploymentStrategy{Type: apps.RecreateDeploymentStrategyType}
	if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "batch")
	b, stop := watchBounds(t, e, ns, "app=batch", 4, 0)
	images := func() error {
		seen := map[string]bool{}
		for _, p := range b.pods {
			seen[p.Spec.Containers[0].Image] = true
		}
		if len(seen) > 1 {
			return fmt.Errorf("old and new pods together")
		}
		return nil
	}
	setImage(t, e, ns, "batch", "nginx:2")
	mixed := false
	eventually(t, 60*time.Second, func() error {
		b.mu.Lock()
		if images() != nil {
			mixed = true
		}
		b.mu.Unlock()
		_, done, err := rolloutStatus(e, ns, "batch")
		if err != nil || !done {
			return fmt.Errorf("not done: %v", err)
		}
		return nil
	})
	stop()
	if mixed || len(b.violations) > 0 {
		t.Fatalf("recreate overlapped: %v", b.violations)
	}

	// Progress deadline: pods that never get ready time the rollout out.
	d = newDeployment("stuck", 3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.ProgressDeadlineSeconds = ptr(int32(3))
	if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "stuck")
	setImage(t, e, ns, "stuck", "broken")
	eventually(t, 30*time.Second, func() error {
		_, _, err := rolloutStatus(e, ns, "stuck")
		if err != nil && strings.Contains(err.Error(), "exceeded its progress deadline") {
			return nil
		}
		return fmt.Errorf("rollout status error %v", err)
	})

	// Proportional scaling: scaling during a stuck rollout grows both
	// ReplicaSets in proportion.
	setImage(t, e, ns, "stuck", "", func(d *apps.Deployment) { d.Spec.Replicas = ptr(int32(6)) })
	eventually(t, 30*time.Second, func() error {
		rss, err := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=stuck"})
		if err != nil {
			return err
		}
		var total int32
		sizes := map[string]int32{}
		for _, rs := range rss.Items {
			total += *rs.Spec.Replicas
			sizes[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
		}
		// 3 old + 1 surged new at size 3 (max 4) become 6 old + 1 new... scaled by 7/4.
		if total != 7 || sizes["nginx:1"] < 5 || sizes["broken"] < 1 {
			return fmt.Errorf("sizes %v", sizes)
		}
		return nil
	})
}
