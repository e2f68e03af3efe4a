package fieldlabels_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/apiserver/internal/fieldlabels"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtract(t *testing.T) {
	meta := func(ns, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}}
	}
	tests := []struct {
		name       string
		resource   string
		obj        any
		wantName   string
		wantNS     string
		wantLabels labels.Set
		want       fields.Set
	}{
		{
			name:     "pod",
			resource: "pods",
			obj: &corev1.Pod{
				TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
				ObjectMeta: meta("default", "web"),
				Spec: corev1.PodSpec{
					NodeName: "node-1", RestartPolicy: corev1.RestartPolicyOnFailure, SchedulerName: "custom",
					ServiceAccountName: "sa", HostNetwork: true,
				},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: "10.0.0.5", NominatedNodeName: "node-2",
					PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}},
				},
			},
			wantName: "web", wantNS: "default", wantLabels: labels.Set{"app": "web"},
			want: fields.Set{
				"metadata.name": "web", "metadata.namespace": "default",
				"spec.nodeName": "node-1", "spec.restartPolicy": "OnFailure", "spec.schedulerName": "custom",
				"spec.serviceAccountName": "sa", "spec.hostNetwork": "true",
				"status.phase": "Running", "status.podIP": "10.0.0.5", "status.podIPs": "10.0.0.5,fd00::5",
				"status.nominatedNodeName": "node-2",
			},
		},
		{
			name:     "unscheduled pod",
			resource: "pods",
			obj:      &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}},
			wantName: "p", wantNS: "ns",
			want: fields.Set{
				"metadata.name": "p", "metadata.namespace": "ns",
				"spec.nodeName": "", "spec.restartPolicy": "", "spec.schedulerName": "",
				"spec.serviceAccountName": "", "spec.hostNetwork": "false",
				"status.phase": "", "status.podIP": "", "status.podIPs": "", "status.nominatedNodeName": "",
			},
		},
		{
			name:     "core event",
			resource: "events",
			obj: &corev1.Event{
				ObjectMeta: meta("kube-system", "ev.1"),
				InvolvedObject: corev1.ObjectReference{
					Kind: "Pod", Namespace: "kube-system", Name: "dns", UID: "u-1", APIVersion: "v1",
					ResourceVersion: "42", FieldPath: "spec.containers{dns}",
				},
				Reason: "Pulled", ReportingController: "kubelet", Source: corev1.EventSource{Component: "kubelet", Host: "n1"},
				Type: corev1.EventTypeNormal,
			},
			wantName: "ev.1", wantNS: "kube-system", wantLabels: labels.Set{"app": "ev.1"},
			want: fields.Set{
				"metadata.name": "ev.1", "metadata.namespace": "kube-system",
				"involvedObject.kind": "Pod", "involvedObject.namespace": "kube-system", "involvedObject.name": "dns",
				"involvedObject.uid": "u-1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "42",
				"involvedObject.fieldPath": "spec.containers{dns}", "reason": "Pulled", "reportingComponent": "kubelet",
				"source": "kubelet", "type": "Normal",
			},
		},
		{
			name:     "secret",
			resource: "secrets",
			obj:      &corev1.Secret{ObjectMeta: meta("default", "tls"), Type: corev1.SecretTypeTLS},
			wantName: "tls", wantNS: "default", wantLabels: labels.Set{"app": "tls"},
			want: fields.Set{"metadata.name": "tls", "metadata.namespace": "default", "type": "kubernetes.io/tls"},
		},
		{
			name:     "namespace",
			resource: "namespaces",
			obj:      &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			wantName: "prod",
			want:     fields.Set{"metadata.name": "prod", "metadata.namespace": "", "status.phase": "Terminating"},
		},
		{
			name:     "cordoned node",
			resource: "nodes",
			obj:      &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"kubernetes.io/os": "linux"}}, Spec: corev1.NodeSpec{Unschedulable: true}},
			wantName: "n1", wantLabels: labels.Set{"kubernetes.io/os": "linux"},
			want: fields.Set{"metadata.name": "n1", "metadata.namespace": "", "spec.unschedulable": "true"},
		},
		{
			name:     "schedulable node",
			resource: "nodes",
			obj:      &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
			wantName: "n2",
			want:     fields.Set{"metadata.name": "n2", "metadata.namespace": "", "spec.unschedulable": "false"},
		},
		{
			name:     "job",
			resource: "jobs",
			obj:      &batchv1.Job{ObjectMeta: meta("batch", "j"), Status: batchv1.JobStatus{Succeeded: 3, Failed: 1}},
			wantName: "j", wantNS: "batch", wantLabels: labels.Set{"app": "j"},
			want: fields.Set{"metadata.name": "j", "metadata.namespace": "batch", "status.successful": "3"},
		},
		{
			name:     "replicaset",
			resource: "replicasets",
			obj:      &appsv1.ReplicaSet{ObjectMeta: meta("default", "rs"), Status: appsv1.ReplicaSetStatus{Replicas: 4, ReadyReplicas: 2}},
			wantName: "rs", wantNS: "default", wantLabels: labels.Set{"app": "rs"},
			want: fields.Set{"metadata.name": "rs", "metadata.namespace": "default", "status.replicas": "4"},
		},
		{
			name:     "replicationcontroller",
			resource: "replicationcontrollers",
			obj:      &corev1.ReplicationController{ObjectMeta: meta("default", "rc"), Status: corev1.ReplicationControllerStatus{Replicas: 2}},
			wantName: "rc", wantNS: "default", wantLabels: labels.Set{"app": "rc"},
			want: fields.Set{"metadata.name": "rc", "metadata.namespace": "default", "status.replicas": "2"},
		},
		{
			name:     "kind without extra field labels",
			resource: "configmaps",
			obj:      &corev1.ConfigMap{ObjectMeta: meta("default", "cm"), Data: map[string]string{"type": "not a field label"}},
			wantName: "cm", wantNS: "default", wantLabels: labels.Set{"app": "cm"},
			want: fields.Set{"metadata.name": "cm", "metadata.namespace": "default"},
		},
		{
			name:     "unknown resource",
			resource: "widgets",
			obj:      map[string]any{"metadata": map[string]any{"name": "w", "namespace": "x"}, "spec": map[string]any{"nodeName": "n"}},
			wantName: "w", wantNS: "x",
			want: fields.Set{"metadata.name": "w", "metadata.namespace": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := fieldlabels.Extract(tt.resource, mustJSON(t, tt.obj))
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if m.Name != tt.wantName || m.Namespace != tt.wantNS {
				t.Errorf("identity = %s/%s, want %s/%s", m.Namespace, m.Name, tt.wantNS, tt.wantName)
			}
			if !maps.Equal(m.Labels, tt.wantLabels) {
				t.Errorf("labels = %v, want %v", m.Labels, tt.wantLabels)
			}
			if got := m.Fields.Set(); !maps.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
			for f, v := range tt.want {
				if !m.Fields.Has(f) {
					t.Errorf("Has(%q) = false", f)
				}
				if got := m.Fields.Get(f); got != v {
					t.Errorf("Get(%q) = %q, want %q", f, got, v)
				}
				if !fieldlabels.Check(tt.resource, f) {
					t.Errorf("Check(%q, %q) = false for an extracted field", tt.resource, f)
				}
			}
			// Field selectors evaluate directly against the values.
			sel := fields.SelectorFromSet(tt.want)
			if !sel.Matches(m.Fields) {
				t.Errorf("selector %s does not match its own object", sel)
			}
			if fields.OneTermEqualSelector("metadata.name", "someone-else").Matches(m.Fields) {
				t.Error("metadata.name selector matches another name")
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		raw      string
	}{
		{"invalid JSON pod", "pods", `{"metadata":`},
		{"invalid JSON generic", "configmaps", `not json`},
		{"no name", "pods", `{"metadata":{"namespace":"ns"}}`},
		{"no metadata", "secrets", `{"type":"Opaque"}`},
		{"wrong field type", "nodes", `{"metadata":{"name":"n"},"spec":{"unschedulable":"yes"}}`},
		{"metadata not an object", "events", `{"metadata":"x"}`},
		{"empty", "jobs", ``},
		{"null", "replicasets", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := fieldlabels.Extract(tt.resource, []byte(tt.raw)); err == nil {
				t.Errorf("Extract(%s, %s) = %+v, want an error", tt.resource, tt.raw, m)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		resource, field string
		want            bool
	}{
		{"pods", "metadata.name", true},
		{"pods", "metadata.namespace", true},
		{"pods", "spec.nodeName", true},
		{"pods", "status.podIP", true},
		{"pods", "spec.containers", false},
		{"pods", "metadata.labels", false},
		{"events", "involvedObject.uid", true},
		{"events", "regarding.uid", false}, // the events.k8s.io alias is mapped before Check
		{"events", "source", true},
		{"secrets", "type", true},
		{"configmaps", "type", false},
		{"configmaps", "metadata.name", true},
		{"nodes", "spec.unschedulable", true},
		{"namespaces", "status.phase", true},
		{"jobs", "status.successful", true},
		{"jobs", "status.succeeded", false},
		{"replicasets", "status.replicas", true},
		{"deployments", "status.replicas", false},
		{"widgets", "metadata.namespace", true},
		{"widgets", "", false},
	}
	for _, tt := range tests {
		if got := fieldlabels.Check(tt.resource, tt.field); got != tt.want {
			t.Errorf("Check(%q, %q) = %v, want %v", tt.resource, tt.field, got, tt.want)
		}
	}
}

// TestAliases: every events.k8s.io alias must name a field core events support.
func TestAliases(t *testing.T) {
	for group, aliases := range fieldlabels.Aliases {
		for from, to := range aliases {
			if !fieldlabels.Check("events", to) {
				t.Errorf("%s alias %s -> %s: target is not a field label of events", group, from, to)
			}
		}
	}
}

func TestValuesHasGet(t *testing.T) {
	m, err := fieldlabels.Extract("secrets", []byte(`{"metadata":{"name":"s","namespace":"ns"},"type":"Opaque"}`))
	if err != nil {
		t.Fatal(err)
	}
	v := m.Fields
	tests := []struct {
		field   string
		wantHas bool
		wantGet string
	}{
		{"metadata.name", true, "s"},
		{"metadata.namespace", true, "ns"},
		{"type", true, "Opaque"},
		{"status.phase", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := v.Has(tt.field); got != tt.wantHas {
			t.Errorf("Has(%q) = %v, want %v", tt.field, got, tt.wantHas)
		}
		if got := v.Get(tt.field); got != tt.wantGet {
			t.Errorf("Get(%q) = %q, want %q", tt.field, got, tt.wantGet)
		}
	}

	var zero fieldlabels.Values
	if zero.Has("metadata.name") || zero.Get("metadata.name") != "" || len(zero.Set()) != 0 {
		t.Error("the zero Values must have no fields")
	}

	// Objects of one resource share the names slice but not the values.
	other, err := fieldlabels.Extract("secrets", []byte(`{"metadata":{"name":"t","namespace":"ns"},"type":"kubernetes.io/tls"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("type") != "Opaque" || other.Fields.Get("type") != "kubernetes.io/tls" {
		t.Errorf("values leak between objects: %v, %v", v.Set(), other.Fields.Set())
	}
}

// TestSupportedNames: every supported field of a resource is extracted (so a
// selector on it can match), and none is listed twice.
func TestSupportedNames(t *testing.T) {
	for res, extra := range fieldlabels.Supported {
		m, err := fieldlabels.Extract(res, []byte(`{"metadata":{"name":"x"}}`))
		if err != nil {
			t.Fatalf("%s: %v", res, err)
		}
		for _, f := range append([]string{"metadata.name", "metadata.namespace"}, extra...) {
			if !m.Fields.Has(f) {
				t.Errorf("%s: supported field %s is not extracted", res, f)
			}
		}
		if slices.Contains(extra, "metadata.name") || slices.Contains(extra, "metadata.namespace") {
			t.Errorf("%s: Supported repeats a metadata field", res)
		}
		seen := map[string]bool{}
		for _, f := range extra {
			if seen[f] {
				t.Errorf("%s: %s listed twice", res, f)
			}
			seen[f] = true
		}
	}
}
