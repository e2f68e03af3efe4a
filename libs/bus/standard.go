package bus

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Standard returns the bus Resources of built-in kinds by resource name
// ("pods", "services", "endpointslices", "deployments", ...), for daemons
// that pass them to UseBus. An unknown name is an error.
func Standard(cs kubernetes.Interface, names ...string) ([]Resource, error) {
	core, apps := cs.CoreV1().RESTClient(), cs.AppsV1().RESTClient()
	table := map[string]struct {
		group  string
		client cache.Getter
		new    func() runtime.Object
	}{
		"pods":                   {"", core, func() runtime.Object { return &corev1.Pod{} }},
		"nodes":                  {"", core, func() runtime.Object { return &corev1.Node{} }},
		"services":               {"", core, func() runtime.Object { return &corev1.Service{} }},
		"endpoints":              {"", core, func() runtime.Object { return &corev1.Endpoints{} }},
		"namespaces":             {"", core, func() runtime.Object { return &corev1.Namespace{} }},
		"serviceaccounts":        {"", core, func() runtime.Object { return &corev1.ServiceAccount{} }},
		"configmaps":             {"", core, func() runtime.Object { return &corev1.ConfigMap{} }},
		"secrets":                {"", core, func() runtime.Object { return &corev1.Secret{} }},
		"persistentvolumes":      {"", core, func() runtime.Object { return &corev1.PersistentVolume{} }},
		"persistentvolumeclaims": {"", core, func() runtime.Object { return &corev1.PersistentVolumeClaim{} }},
		"replicationcontrollers": {"", core, func() runtime.Object { return &corev1.ReplicationController{} }},
		"deployments":            {"apps", apps, func() runtime.Object { return &appsv1.Deployment{} }},
		"replicasets":            {"apps", apps, func() runtime.Object { return &appsv1.ReplicaSet{} }},
		"statefulsets":           {"apps", apps, func() runtime.Object { return &appsv1.StatefulSet{} }},
		"daemonsets":             {"apps", apps, func() runtime.Object { return &appsv1.DaemonSet{} }},
		"jobs":                   {"batch", cs.BatchV1().RESTClient(), func() runtime.Object { return &batchv1.Job{} }},
		"endpointslices":         {"discovery.k8s.io", cs.DiscoveryV1().RESTClient(), func() runtime.Object { return &discoveryv1.EndpointSlice{} }},
		"poddisruptionbudgets":   {"policy", cs.PolicyV1().RESTClient(), func() runtime.Object { return &policyv1.PodDisruptionBudget{} }},
		"priorityclasses":        {"scheduling.k8s.io", cs.SchedulingV1().RESTClient(), func() runtime.Object { return &schedulingv1.PriorityClass{} }},
		"storageclasses":         {"storage.k8s.io", cs.StorageV1().RESTClient(), func() runtime.Object { return &storagev1.StorageClass{} }},
	}
	out := make([]Resource, 0, len(names))
	for _, n := range names {
		e, ok := table[n]
		if !ok {
			return nil, fmt.Errorf("bus: no standard resource %q", n)
		}
		out = append(out, Resource{Group: e.group, Resource: n, Client: e.client, New: e.new})
	}
	return out, nil
}
