package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// want is one expected error: its type and field path.
type want struct {
	typ   field.ErrorType
	field string
}

func invalid(f string) want        { return want{field.ErrorTypeInvalid, f} }
func required(f string) want       { return want{field.ErrorTypeRequired, f} }
func forbidden(f string) want      { return want{field.ErrorTypeForbidden, f} }
func notSupportedAt(f string) want { return want{field.ErrorTypeNotSupported, f} }
func duplicate(f string) want      { return want{field.ErrorTypeDuplicate, f} }
func notFound(f string) want       { return want{field.ErrorTypeNotFound, f} }
func tooLong(f string) want        { return want{field.ErrorTypeTooLong, f} }
func tooMany(f string) want        { return want{field.ErrorTypeTooMany, f} }

// checkErrs requires got to hold exactly the wanted errors, in any order.
func checkErrs(t *testing.T, got field.ErrorList, wants ...want) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, fmt.Sprintf("%s %s", e.Type, e.Field))
	}
	for _, e := range wants {
		w = append(w, fmt.Sprintf("%s %s", e.typ, e.field))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("errors:\n  %s\nwant:\n  %s\nfull errors: %v", strings.Join(g, "\n  "), strings.Join(w, "\n  "), got.ToAggregate())
	}
}

func ptr[T any](v T) *T { return &v }

// Fixtures are valid and look defaulted, as objects reach validation.

func validContainer(name string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    "nginx:1.27",
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{validContainer("app")},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: ptr[int64](30),
		SchedulerName:                 corev1.DefaultSchedulerName,
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name string
		run  func() field.ErrorList
		want []want
	}{
		{"nil object", func() field.ErrorList { return Validate(nil) }, []want{{field.ErrorTypeInternal, "<nil>"}}},
		{"typed nil", func() field.ErrorList { return Validate((*corev1.Pod)(nil)) }, []want{{field.ErrorTypeInternal, "<nil>"}}},
		{"typed nil old", func() field.ErrorList { return ValidateUpdate(validPod(), (*corev1.Pod)(nil)) }, []want{{field.ErrorTypeInternal, "<nil>"}}},
		{"type mismatch", func() field.ErrorList { return ValidateUpdate(validPod(), &corev1.Secret{}) }, []want{{field.ErrorTypeInternal, "<nil>"}}},
		{"status type mismatch", func() field.ErrorList { return ValidateStatusUpdate(validPod(), &corev1.Secret{}) }, []want{{field.ErrorTypeInternal, "<nil>"}}},
		{"unknown kind: metadata only", func() field.ErrorList {
			return Validate(&corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name", Namespace: "ns"}})
		}, []want{invalid("metadata.name")}},
		{"unknown kind: valid", func() field.ErrorList {
			return Validate(&corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns"}})
		}, nil},
		{"unknown kind: update checks immutable name", func() field.ErrorList {
			old := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns", ResourceVersion: "1"}}
			obj := old.DeepCopy()
			obj.Name = "u"
			return ValidateUpdate(obj, old)
		}, []want{invalid("metadata.name")}},
		{"list has no metadata to check", func() field.ErrorList { return Validate(&corev1.PodList{}) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, tt.run(), tt.want...)
		})
	}
}

func TestObjectMeta(t *testing.T) {
	longLabel := strings.Repeat("a", 64)
	bigAnnotation := strings.Repeat("x", 256*1024)
	tests := []struct {
		name   string
		obj    runtime.Object
		want   []want
		create bool
	}{
		{"configmap subdomain name ok", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a.b-c", Namespace: "ns"}}, nil, true},
		{"configmap bad name", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "A_b", Namespace: "ns"}}, []want{invalid("metadata.name")}, true},
		{"missing name", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}}, []want{required("metadata.name")}, true},
		{"bad generateName", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok", GenerateName: "Bad-", Namespace: "ns"}}, []want{invalid("metadata.generateName")}, true},
		{"generateName with trailing dash ok", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-x1", GenerateName: "web-", Namespace: "ns"}}, nil, true},
		{"namespace required", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, []want{required("metadata.namespace")}, true},
		{"namespace forbidden on cluster scope", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"}}, []want{forbidden("metadata.namespace")}, true},
		{"namespace name is a label", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}, []want{invalid("metadata.name")}, true},
		{"bad label key", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"-x": "y"}}}, []want{invalid("metadata.labels")}, true},
		{"bad label value", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"x": longLabel}}}, []want{invalid("metadata.labels")}, true},
		{"annotations too big", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Annotations: map[string]string{"k": bigAnnotation}}}, []want{tooLong("metadata.annotations")}, true},
		{"bad annotation key", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Annotations: map[string]string{"a b": ""}}}, []want{invalid("metadata.annotations")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, Validate(tt.obj), tt.want...)
		})
	}
}

func TestObjectMetaUpdate(t *testing.T) {
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "a", Namespace: "ns", UID: "u1", ResourceVersion: "5", CreationTimestamp: metav1.Unix(100, 0),
	}}
	tests := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []want
	}{
		{"labels may change", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }, nil},
		{"name immutable", func(c *corev1.ConfigMap) { c.Name = "b" }, []want{invalid("metadata.name")}},
		{"namespace immutable", func(c *corev1.ConfigMap) { c.Namespace = "other" }, []want{invalid("metadata.namespace")}},
		{"uid immutable", func(c *corev1.ConfigMap) { c.UID = "u2" }, []want{invalid("metadata.uid")}},
		{"creationTimestamp immutable", func(c *corev1.ConfigMap) { c.CreationTimestamp = metav1.Unix(200, 0) }, []want{invalid("metadata.creationTimestamp")}},
		{"resourceVersion required", func(c *corev1.ConfigMap) { c.ResourceVersion = "" }, []want{invalid("metadata.resourceVersion")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := old.DeepCopy()
			tt.mutate(obj)
			checkErrs(t, ValidateUpdate(obj, old), tt.want...)
		})
	}
}

func TestErrorMessageMatchesKubernetes(t *testing.T) {
	d := validDeployment()
	d.Spec.Template.Labels = map[string]string{"app": "y"}
	d.Spec.Selector.MatchLabels = map[string]string{"app": "x"}
	errs := Validate(d)
	checkErrs(t, errs, invalid("spec.template.metadata.labels"))
	const wantMsg = "spec.template.metadata.labels: Invalid value: {\"app\":\"y\"}: `selector` does not match template `labels`"
	if len(errs) == 1 && errs[0].Error() != wantMsg {
		// apimachinery decides how values print; only the shape matters here.
		if !strings.HasPrefix(errs[0].Error(), "spec.template.metadata.labels: Invalid value: ") ||
			!strings.HasSuffix(errs[0].Error(), "`selector` does not match template `labels`") {
			t.Errorf("message = %q", errs[0].Error())
		}
	}
}
