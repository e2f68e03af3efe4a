package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
)

// defaultingTest is one object before and after Default.
type defaultingTest struct {
	name     string
	in, want runtime.Object
}

func runDefaultingTests(t *testing.T, tests []defaultingTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.DeepCopyObject()
			Default(got)
			if !equality.Semantic.DeepEqual(tt.want, got) {
				t.Errorf("Default() mismatch (- want, + got):\n%s", diff.Diff(tt.want, got))
			}
		})
	}
}

// defaultedContainer is a container that named only its image, after defaulting.
func defaultedContainer(name, image string, pull corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          pull,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedTemplateSpec is the PodSpec every pod template gets: none of the
// pod-only defaults such as enableServiceLinks.
func defaultedTemplateSpec(containers ...corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    containers,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: new(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
	}
}

// appTemplate is a pod template as users write it.
func appTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
	}
}

func defaultedAppTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       defaultedTemplateSpec(defaultedContainer("web", "nginx:1.27", corev1.PullIfNotPresent)),
	}
}

func TestDefaultLeavesKindsWithoutDefaultsAlone(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "lease",
			in:   &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: new("node-a")}},
			want: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: new("node-a")}},
		},
		{
			name: "pod disruption budget keeps unhealthyPodEvictionPolicy unset",
			in:   &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{}}},
			want: &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{}}},
		},
		{
			name: "ingress keeps pathType unset",
			in: &networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/"}}}},
			}}}},
			want: &networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/"}}}},
			}}}},
		},
		{
			name: "service account",
			in:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
			want: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		},
		{
			name: "unstructured",
			in:   &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}},
			want: &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}},
		},
	})
}

func TestDefaultLists(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "every item of a typed list is defaulted",
			in: &appsv1.DeploymentList{Items: []appsv1.Deployment{
				{Spec: appsv1.DeploymentSpec{Replicas: new(int32(3)), Template: appTemplate()}},
				{Spec: appsv1.DeploymentSpec{Template: appTemplate()}},
			}},
			want: &appsv1.DeploymentList{Items: []appsv1.Deployment{
				defaultedDeployment(3, defaultedAppTemplate()),
				defaultedDeployment(1, defaultedAppTemplate()),
			}},
		},
		{
			name: "secret list",
			in:   &corev1.SecretList{Items: []corev1.Secret{{}, {Type: corev1.SecretTypeTLS}}},
			want: &corev1.SecretList{Items: []corev1.Secret{{Type: corev1.SecretTypeOpaque}, {Type: corev1.SecretTypeTLS}}},
		},
	})
}
