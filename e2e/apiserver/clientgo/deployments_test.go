package clientgo

import (
	"net/http"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"drover.dev/e2e/framework"
)

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
}

func TestDeploymentScaleAndStatusSplit(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	deps := cs.AppsV1().Deployments(ns)

	d, err := deps.Create(ctx, deployment("web", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Errorf("new deployment generation %d, want 1", d.Generation)
	}
	quarter := intstr.FromString("25%")
	for _, x := range []struct {
		field     string
		got, want any
	}{
		{"spec.strategy.type", d.Spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType},
		{"spec.strategy.rollingUpdate.maxSurge", derefIntstr(d.Spec.Strategy.RollingUpdate, true), quarter},
		{"spec.strategy.rollingUpdate.maxUnavailable", derefIntstr(d.Spec.Strategy.RollingUpdate, false), quarter},
		{"spec.revisionHistoryLimit", deref(d.Spec.RevisionHistoryLimit), int32(10)},
		{"spec.progressDeadlineSeconds", deref(d.Spec.ProgressDeadlineSeconds), int32(600)},
		{"spec.template.spec.restartPolicy", d.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"spec.template.spec.containers[0].imagePullPolicy", d.Spec.Template.Spec.Containers[0].ImagePullPolicy, corev1.PullIfNotPresent},
	} {
		if x.got != x.want {
			t.Errorf("default %s = %v, want %v", x.field, x.got, x.want)
		}
	}

	// Scale subresource.
	scale, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale: %v", err)
	}
	if scale.Spec.Replicas != 1 || scale.Status.Selector != "app=web" {
		t.Errorf("scale: spec.replicas=%d status.selector=%q, want 1 and app=web", scale.Spec.Replicas, scale.Status.Selector)
	}
	scale.Spec.Replicas = 3
	if _, err := deps.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	d, err = deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 || d.Generation != 2 {
		t.Errorf("after scale: replicas=%d generation=%d, want 3 and 2", *d.Spec.Replicas, d.Generation)
	}
	// A stale scale update conflicts like any other.
	scale.Spec.Replicas = 4
	_, err = deps.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
	// The scale subresource of a missing deployment.
	_, err = deps.GetScale(ctx, "nope", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)

	// Status update: changes status only, no generation bump.
	d.Status.Replicas = 3
	d.Status.ObservedGeneration = d.Generation
	d.Spec.Replicas = ptr(int32(9)) // ignored by /status
	st, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Status.Replicas != 3 || st.Status.ObservedGeneration != 2 {
		t.Errorf("status not stored: %+v", st.Status)
	}
	if *st.Spec.Replicas != 3 {
		t.Errorf("status update changed spec.replicas to %d", *st.Spec.Replicas)
	}
	if st.Generation != 2 {
		t.Errorf("status update bumped generation to %d", st.Generation)
	}

	// Main update: status ignored; metadata change does not bump generation.
	st.Status.Replicas = 99
	st.Labels["tier"] = "front"
	up, err := deps.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Status.Replicas != 3 {
		t.Errorf("main update changed status.replicas to %d", up.Status.Replicas)
	}
	if up.Labels["tier"] != "front" {
		t.Errorf("main update lost label: %v", up.Labels)
	}
	if up.Generation != 2 {
		t.Errorf("metadata-only update bumped generation to %d", up.Generation)
	}
	// Spec change bumps generation.
	up.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	up, err = deps.Update(ctx, up, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Generation != 3 {
		t.Errorf("spec update: generation %d, want 3", up.Generation)
	}
	// apps/v1 selectors are immutable.
	up.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
	up.Spec.Template.Labels = map[string]string{"app": "web", "x": "y"}
	_, err = deps.Update(ctx, up, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = deps.Get(ctx, "web", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func derefIntstr(ru *appsv1.RollingUpdateDeployment, surge bool) any {
	if ru == nil {
		return nil
	}
	if surge {
		return deref(ru.MaxSurge)
	}
	return deref(ru.MaxUnavailable)
}
