package registry

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

func status() Subresource { return Subresource{Name: "status"} }

func scale() Subresource {
	return Subresource{Name: "scale", GVK: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}}
}

var all = []string{"all"}

// Builtin is the resource table Kubernetes 1.37 serves for the groups drover implements.
// Order is the order of discovery: core first, then groups as kube-apiserver lists them.
func Builtin() *Registry {
	defs := []Resource{
		// core/v1
		{GroupVersionResource: gvr("", "v1", "bindings"), Kind: "Binding", SingularName: "binding", Namespaced: true, Verbs: []string{"create"}},
		{GroupVersionResource: gvr("", "v1", "configmaps"), Kind: "ConfigMap", SingularName: "configmap", Namespaced: true, ShortNames: []string{"cm"}},
		{GroupVersionResource: gvr("", "v1", "endpoints"), Kind: "Endpoints", SingularName: "endpoints", Namespaced: true, ShortNames: []string{"ep"}},
		{GroupVersionResource: gvr("", "v1", "events"), Kind: "Event", SingularName: "event", Namespaced: true, ShortNames: []string{"ev"}},
		{GroupVersionResource: gvr("", "v1", "limitranges"), Kind: "LimitRange", SingularName: "limitrange", Namespaced: true, ShortNames: []string{"limits"}},
		{GroupVersionResource: gvr("", "v1", "namespaces"), Kind: "Namespace", SingularName: "namespace", ShortNames: []string{"ns"}, Verbs: NamespaceVerbs,
			Subresources: []Subresource{{Name: "finalize", Verbs: []string{"update"}}, status()}},
		{GroupVersionResource: gvr("", "v1", "nodes"), Kind: "Node", SingularName: "node", ShortNames: []string{"no"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "persistentvolumeclaims"), Kind: "PersistentVolumeClaim", SingularName: "persistentvolumeclaim", Namespaced: true, ShortNames: []string{"pvc"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "persistentvolumes"), Kind: "PersistentVolume", SingularName: "persistentvolume", ShortNames: []string{"pv"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "pods"), Kind: "Pod", SingularName: "pod", Namespaced: true, ShortNames: []string{"po"}, Categories: all,
			Subresources: []Subresource{
				{Name: "binding", GVK: schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, Verbs: []string{"create"}},
				{Name: "eviction", GVK: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, Verbs: []string{"create"}},
				{Name: "log", GVK: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, Verbs: []string{"get"}},
				status(),
			}},
		{GroupVersionResource: gvr("", "v1", "replicationcontrollers"), Kind: "ReplicationController", SingularName: "replicationcontroller", Namespaced: true, ShortNames: []string{"rc"}, Categories: all, Subresources: []Subresource{scale(), status()}},
		{GroupVersionResource: gvr("", "v1", "resourcequotas"), Kind: "ResourceQuota", SingularName: "resourcequota", Namespaced: true, ShortNames: []string{"quota"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("", "v1", "secrets"), Kind: "Secret", SingularName: "secret", Namespaced: true},
		{GroupVersionResource: gvr("", "v1", "serviceaccounts"), Kind: "ServiceAccount", SingularName: "serviceaccount", Namespaced: true, ShortNames: []string{"sa"}},
		{GroupVersionResource: gvr("", "v1", "services"), Kind: "Service", SingularName: "service", Namespaced: true, ShortNames: []string{"svc"}, Categories: all, Subresources: []Subresource{status()},
			Verbs: []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}},

		// apps/v1
		{GroupVersionResource: gvr("apps", "v1", "controllerrevisions"), Kind: "ControllerRevision", SingularName: "controllerrevision", Namespaced: true},
		{GroupVersionResource: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", SingularName: "daemonset", Namespaced: true, ShortNames: []string{"ds"}, Categories: all, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("apps", "v1", "deployments"), Kind: "Deployment", SingularName: "deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: all, Subresources: []Subresource{scale(), status()}},
		{GroupVersionResource: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", SingularName: "replicaset", Namespaced: true, ShortNames: []string{"rs"}, Categories: all, Subresources: []Subresource{scale(), status()}},
		{GroupVersionResource: gvr("apps", "v1", "statefulsets"), Kind: "StatefulSet", SingularName: "statefulset", Namespaced: true, ShortNames: []string{"sts"}, Categories: all, Subresources: []Subresource{scale(), status()}},

		// events.k8s.io/v1 shares storage with core/v1 events.
		{GroupVersionResource: gvr("events.k8s.io", "v1", "events"), Kind: "Event", SingularName: "event", Namespaced: true, ShortNames: []string{"ev"},
			Storage: gvr("", "v1", "events"), StorageKind: "Event"},

		// autoscaling: v2 is the storage version, v1 a view of it.
		{GroupVersionResource: gvr("autoscaling", "v2", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", SingularName: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: all, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("autoscaling", "v1", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", SingularName: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: all, Subresources: []Subresource{status()},
			Storage: gvr("autoscaling", "v2", "horizontalpodautoscalers"), StorageKind: "HorizontalPodAutoscaler"},

		// batch/v1
		{GroupVersionResource: gvr("batch", "v1", "cronjobs"), Kind: "CronJob", SingularName: "cronjob", Namespaced: true, ShortNames: []string{"cj"}, Categories: all, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("batch", "v1", "jobs"), Kind: "Job", SingularName: "job", Namespaced: true, Categories: all, Subresources: []Subresource{status()}},

		// policy/v1
		{GroupVersionResource: gvr("policy", "v1", "poddisruptionbudgets"), Kind: "PodDisruptionBudget", SingularName: "poddisruptionbudget", Namespaced: true, ShortNames: []string{"pdb"}, Subresources: []Subresource{status()}},

		// rbac.authorization.k8s.io/v1
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), Kind: "ClusterRoleBinding", SingularName: "clusterrolebinding"},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), Kind: "ClusterRole", SingularName: "clusterrole"},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), Kind: "RoleBinding", SingularName: "rolebinding", Namespaced: true},
		{GroupVersionResource: gvr("rbac.authorization.k8s.io", "v1", "roles"), Kind: "Role", SingularName: "role", Namespaced: true},

		// storage.k8s.io/v1
		{GroupVersionResource: gvr("storage.k8s.io", "v1", "storageclasses"), Kind: "StorageClass", SingularName: "storageclass", ShortNames: []string{"sc"}},

		// networking.k8s.io/v1
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "ingressclasses"), Kind: "IngressClass", SingularName: "ingressclass"},
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "ingresses"), Kind: "Ingress", SingularName: "ingress", Namespaced: true, ShortNames: []string{"ing"}, Subresources: []Subresource{status()}},
		{GroupVersionResource: gvr("networking.k8s.io", "v1", "networkpolicies"), Kind: "NetworkPolicy", SingularName: "networkpolicy", Namespaced: true, ShortNames: []string{"netpol"}},

		// scheduling.k8s.io/v1
		{GroupVersionResource: gvr("scheduling.k8s.io", "v1", "priorityclasses"), Kind: "PriorityClass", SingularName: "priorityclass", ShortNames: []string{"pc"}},

		// coordination.k8s.io/v1
		{GroupVersionResource: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", SingularName: "lease", Namespaced: true},

		// discovery.k8s.io/v1
		{GroupVersionResource: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", SingularName: "endpointslice", Namespaced: true},
	}
	reg, err := New(defs)
	if err != nil {
		panic(err)
	}
	return reg
}
