package clientgo

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"drover.dev/e2e/framework"
)

func TestInvalidObjectsAre422WithCauses(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ns := framework.TestNamespace(t, cs)

	mismatched := deployment("mismatch", 1)
	mismatched.Spec.Template.Labels = map[string]string{"app": "other"}
	badContainer := corev1.PodSpec{Containers: []corev1.Container{{Name: "Bad_Name", Image: "busybox"}}}
	noImage := corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}

	tests := []struct {
		name      string
		create    func(kubernetes.Interface) error
		group     string // status details group ("" for core)
		kind      string // status details kind
		objName   string
		wantField string
	}{
		{
			name: "configmap name not DNS-1123",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
				return err
			},
			kind: "ConfigMap", objName: "Bad_Name", wantField: "metadata.name",
		},
		{
			name: "label key with a space",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "badlabel", Labels: map[string]string{"bad key": "v"}}}, metav1.CreateOptions{})
				return err
			},
			kind: "ConfigMap", objName: "badlabel", wantField: "metadata.labels",
		},
		{
			name: "label value too long",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "longlabel", Labels: map[string]string{"k": strings.Repeat("v", 64)}}}, metav1.CreateOptions{})
				return err
			},
			kind: "ConfigMap", objName: "longlabel", wantField: "metadata.labels",
		},
		{
			name: "deployment selector does not match template labels",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.AppsV1().Deployments(ns).Create(t.Context(), mismatched, metav1.CreateOptions{})
				return err
			},
			group: "apps", kind: "Deployment", objName: "mismatch", wantField: "spec.template.metadata.labels",
		},
		{
			name: "container name not DNS-1123",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "badctr"}, Spec: badContainer}, metav1.CreateOptions{})
				return err
			},
			kind: "Pod", objName: "badctr", wantField: "spec.containers[0].name",
		},
		{
			name: "container without image",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "noimage"}, Spec: noImage}, metav1.CreateOptions{})
				return err
			},
			kind: "Pod", objName: "noimage", wantField: "spec.containers[0].image",
		},
		{
			name: "service port out of range",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.CoreV1().Services(ns).Create(t.Context(), &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: "badport"},
					Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 70000}}},
				}, metav1.CreateOptions{})
				return err
			},
			kind: "Service", objName: "badport", wantField: "spec.ports[0].port",
		},
		{
			name: "negative replicas",
			create: func(cs kubernetes.Interface) error {
				_, err := cs.AppsV1().Deployments(ns).Create(t.Context(), deployment("negative", -1), metav1.CreateOptions{})
				return err
			},
			group: "apps", kind: "Deployment", objName: "negative", wantField: "spec.replicas",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.create(cs)
			s := wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
			if s.Details == nil {
				t.Fatalf("422 without details: %+v", s)
			}
			if s.Details.Group != tt.group || s.Details.Kind != tt.kind || s.Details.Name != tt.objName {
				t.Errorf("details group/kind/name %q/%q/%q, want %q/%q/%q", s.Details.Group, s.Details.Kind, s.Details.Name, tt.group, tt.kind, tt.objName)
			}
			var fields []string
			for _, cause := range s.Details.Causes {
				fields = append(fields, cause.Field)
			}
			found := false
			for _, f := range fields {
				if f == tt.wantField || strings.HasPrefix(f, tt.wantField+"[") {
					found = true
				}
			}
			if !found {
				t.Errorf("causes name fields %q, want %s", fields, tt.wantField)
			}
			// Kubernetes qualifies the kind with its group: `Deployment.apps "x" is invalid: ...`.
			qualified := tt.kind
			if tt.group != "" {
				qualified += "." + tt.group
			}
			want := fmt.Sprintf("%s %q is invalid: ", qualified, tt.objName)
			if !strings.HasPrefix(s.Message, want) {
				t.Errorf("message %q, want it to start with %q", s.Message, want)
			}
		})
	}
	// Nothing invalid was stored.
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("invalid pods were stored: %v", podNames(pods))
	}
}

func TestRequestBodyTooLarge(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ns := framework.TestNamespace(t, cs)
	big := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "huge"},
		Data:       map[string]string{"blob": strings.Repeat("x", 4<<20)},
	}
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctxFor(t), big, metav1.CreateOptions{})
	s := wantStatus(t, err, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge)
	t.Logf("413 message: %s", s.Message)
	// Just under the configmap limit of 1 MiB is fine; just over is a 422.
	ok := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "large"}, Data: map[string]string{"blob": strings.Repeat("x", 1<<20-100)}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctxFor(t), ok, metav1.CreateOptions{}); err != nil {
		t.Errorf("create a configmap of almost 1 MiB: %v", err)
	}
	over := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "too-large"}, Data: map[string]string{"blob": strings.Repeat("x", 1<<20+1)}}
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctxFor(t), over, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
}

func TestStrictFieldValidation(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	rc := cs.CoreV1().RESTClient()
	post := func(validation, body string) error {
		return rc.Post().Namespace(ns).Resource("configmaps").
			Param("fieldValidation", validation).
			SetHeader("Content-Type", "application/json").
			Body([]byte(body)).Do(ctx).Error()
	}

	err := post("Strict", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"data":{"a":"b"},"bogus":1}`)
	s := wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	if !strings.Contains(s.Message, `unknown field "bogus"`) {
		t.Errorf("message %q, want it to name the unknown field as Kubernetes does (unknown field \"bogus\")", s.Message)
	}
	err = post("Strict", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict","labels":{"x":"1"},"bogusMeta":true}}`)
	s = wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	if !strings.Contains(s.Message, `unknown field "metadata.bogusMeta"`) {
		t.Errorf("message %q, want unknown field \"metadata.bogusMeta\"", s.Message)
	}
	err = post("Strict", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"data":{"a":"b","a":"c"}}`)
	s = wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	if !strings.Contains(s.Message, `duplicate field "data.a"`) {
		t.Errorf("message %q, want duplicate field \"data.a\"", s.Message)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "strict", metav1.GetOptions{}); err == nil {
		t.Error("an object refused by strict validation was stored")
	}
	// Ignore drops unknown fields and stores the rest.
	if err := post("Ignore", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"lenient"},"data":{"a":"b"},"bogus":1}`); err != nil {
		t.Fatalf("fieldValidation=Ignore: %v", err)
	}
	got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "lenient", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "b" {
		t.Errorf("after fieldValidation=Ignore: %v %v", got, err)
	}
	// Warn (the default) stores the object and warns through the Warning header.
	res := rc.Post().Namespace(ns).Resource("configmaps").Param("fieldValidation", "Warn").
		SetHeader("Content-Type", "application/json").
		Body([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"bogus":1}`)).Do(ctx)
	if err := res.Error(); err != nil {
		t.Fatalf("fieldValidation=Warn: %v", err)
	}
	warned := false
	for _, w := range res.Warnings() {
		if strings.Contains(w.Text, `unknown field "bogus"`) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("fieldValidation=Warn: warnings %+v, want one naming unknown field \"bogus\"", res.Warnings())
	}
}
