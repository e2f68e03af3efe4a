package printers

import (
	"errors"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// objectMeta is the metadata of an object created ten minutes ago, whose AGE is "10m".
func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(10 * time.Minute)}
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

var (
	podGVK        = gvk("", "v1", "Pod")
	serviceGVK    = gvk("", "v1", "Service")
	deploymentGVK = gvk("apps", "v1", "Deployment")
)

func container(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

func podTemplate(containers ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}
}

func runningStatus(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}},
	}
}

func waitingStatus(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminatedStatus(name, reason string, exitCode int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode}}}
}

func TestTableCells(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	str := func(s string) *string { return &s }
	deleting := ago(time.Second)
	lb := func(ips ...string) corev1.LoadBalancerStatus {
		var s corev1.LoadBalancerStatus
		for _, ip := range ips {
			s.Ingress = append(s.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return s
	}
	restarted := runningStatus("app", true, 2)
	restarted.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(5 * time.Minute)}
	podReady := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}

	tests := []struct {
		name string
		gvk  schema.GroupVersionKind
		obj  runtime.Object
		want []any
	}{
		{
			name: "running pod with restarts",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{container("app", "nginx")}},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: "10.0.0.5", Conditions: podReady,
					ContainerStatuses: []corev1.ContainerStatus{restarted},
				},
			},
			want: []any{"web", "1/1", "Running", "2 (5m ago)", "10m", "10.0.0.5", "node-1", "<none>", "<none>"},
		},
		{
			name: "pending pod waiting on its init container",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{container("init", "busybox")},
					Containers:     []corev1.Container{container("app", "nginx")},
				},
				Status: corev1.PodStatus{
					Phase:                 corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{waitingStatus("init", "PodInitializing")},
					ContainerStatuses:     []corev1.ContainerStatus{waitingStatus("app", "PodInitializing")},
				},
			},
			want: []any{"web", "0/1", "Init:0/1", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "init container crash looping",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{container("a", "busybox"), container("b", "busybox")},
					Containers:     []corev1.Container{container("app", "nginx")},
				},
				Status: corev1.PodStatus{
					Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{
						terminatedStatus("a", "Completed", 0),
						{Name: "b", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
					},
				},
			},
			want: []any{"web", "0/1", "Init:CrashLoopBackOff", "4", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "container creating",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{container("app", "nginx")}},
				Status: corev1.PodStatus{
					Phase:             corev1.PodPending,
					ContainerStatuses: []corev1.ContainerStatus{waitingStatus("app", "ContainerCreating")},
				},
			},
			want: []any{"web", "0/1", "ContainerCreating", "0", "10m", "<none>", "node-1", "<none>", "<none>"},
		},
		{
			name: "crash loop back off",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec:       corev1.PodSpec{Containers: []corev1.Container{container("app", "nginx")}},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning,
					ContainerStatuses: []corev1.ContainerStatus{{
						Name: "app", RestartCount: 7,
						State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(90 * time.Second)}},
					}},
				},
			},
			want: []any{"web", "0/1", "CrashLoopBackOff", "7 (90s ago)", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "terminating pod",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: func() metav1.ObjectMeta { m := objectMeta("web"); m.DeletionTimestamp = &deleting; return m }(),
				Spec:       corev1.PodSpec{Containers: []corev1.Container{container("app", "nginx")}},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, Conditions: podReady,
					ContainerStatuses: []corev1.ContainerStatus{runningStatus("app", true, 0)},
				},
			},
			want: []any{"web", "1/1", "Terminating", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "completed pod",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("job-abc"),
				Spec:       corev1.PodSpec{Containers: []corev1.Container{container("app", "busybox")}},
				Status: corev1.PodStatus{
					Phase:             corev1.PodSucceeded,
					ContainerStatuses: []corev1.ContainerStatus{terminatedStatus("app", "Completed", 0)},
				},
			},
			want: []any{"job-abc", "0/1", "Completed", "0", "10m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "sidecar counts as a container",
			gvk:  podGVK,
			obj: &corev1.Pod{
				ObjectMeta: objectMeta("web"),
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "proxy", Image: "envoy", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)}},
					Containers:     []corev1.Container{container("app", "nginx")},
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}},
				},
				Status: corev1.PodStatus{
					Phase:                 corev1.PodRunning,
					Conditions:            append([]corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}, podReady...),
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: new(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
					ContainerStatuses:     []corev1.ContainerStatus{runningStatus("app", true, 0)},
				},
			},
			want: []any{"web", "2/2", "Running", "0", "10m", "<none>", "<none>", "<none>", "0/1"},
		},
		{
			name: "deployment two of three ready",
			gvk:  deploymentGVK,
			obj: &appsv1.Deployment{
				ObjectMeta: objectMeta("web"),
				Spec: appsv1.DeploymentSpec{
					Replicas: i32(3),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Template: podTemplate(container("nginx", "nginx:1.27"), container("sidecar", "envoy")),
				},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
			},
			want: []any{"web", "2/3", int64(3), int64(2), "10m", "nginx,sidecar", "nginx:1.27,envoy", "app=web"},
		},
		{
			name: "node port service",
			gvk:  serviceGVK,
			obj: &corev1.Service{
				ObjectMeta: objectMeta("web"),
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
					Ports:    []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}},
					Selector: map[string]string{"app": "web"},
				},
			},
			want: []any{"web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP", "10m", "app=web"},
		},
		{
			name: "external name service",
			gvk:  serviceGVK,
			obj: &corev1.Service{
				ObjectMeta: objectMeta("db"),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
			},
			want: []any{"db", "ExternalName", "<none>", "db.example.com", "<none>", "10m", "<none>"},
		},
		{
			name: "cluster ip service defaults its type and protocol",
			gvk:  serviceGVK,
			obj: &corev1.Service{
				ObjectMeta: objectMeta("kubernetes"),
				Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 443}, {Port: 53, Protocol: corev1.ProtocolUDP}}},
			},
			want: []any{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP,53/UDP", "10m", "<none>"},
		},
		{
			name: "load balancer pending",
			gvk:  serviceGVK,
			obj: &corev1.Service{
				ObjectMeta: objectMeta("lb"),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.20"}, Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}}},
			},
			want: []any{"lb", "LoadBalancer", "10.96.0.20", "<pending>", "443:31443/TCP", "10m", "<none>"},
		},
		{
			name: "load balancer with addresses and external IPs, never clipped",
			gvk:  serviceGVK,
			obj: &corev1.Service{
				ObjectMeta: objectMeta("lb"),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.20"}, ExternalIPs: []string{"192.0.2.9"}},
				Status:     corev1.ServiceStatus{LoadBalancer: lb("203.0.113.20", "203.0.113.10", "203.0.113.10")},
			},
			want: []any{"lb", "LoadBalancer", "10.96.0.20", "203.0.113.10,203.0.113.20,192.0.2.9", "<none>", "10m", "<none>"},
		},
		{
			name: "node not ready and cordoned",
			gvk:  gvk("", "v1", "Node"),
			obj: &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: ago(3 * 24 * time.Hour), Labels: map[string]string{
					"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true", "kubernetes.io/role": "master",
				}},
				Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
					Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node-1"}, {Type: corev1.NodeInternalIP, Address: "172.18.0.2"}},
					NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", Architecture: "amd64", ContainerRuntimeVersion: "containerd://2.1.0"},
				},
			},
			want: []any{"node-1", "NotReady,SchedulingDisabled", "control-plane,etcd,master", "3d", "v1.37.2", "172.18.0.2", "<none>", "Debian GNU/Linux 13", "6.12.0 (amd64)", "containerd://2.1.0"},
		},
		{
			name: "node without conditions",
			gvk:  gvk("", "v1", "Node"),
			obj:  &corev1.Node{ObjectMeta: objectMeta("node-2")},
			want: []any{"node-2", "Unknown", "<none>", "10m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "namespace",
			gvk:  gvk("", "v1", "Namespace"),
			obj:  &corev1.Namespace{ObjectMeta: objectMeta("team-a")},
			want: []any{"team-a", "Active", "10m"},
		},
		{
			name: "config map counts data and binary data",
			gvk:  gvk("", "v1", "ConfigMap"),
			obj:  &corev1.ConfigMap{ObjectMeta: objectMeta("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": nil}},
			want: []any{"cfg", int64(3), "10m"},
		},
		{
			name: "secret",
			gvk:  gvk("", "v1", "Secret"),
			obj:  &corev1.Secret{ObjectMeta: objectMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			want: []any{"tls", "kubernetes.io/tls", int64(2), "10m"},
		},
		{
			name: "service account",
			gvk:  gvk("", "v1", "ServiceAccount"),
			obj:  &corev1.ServiceAccount{ObjectMeta: objectMeta("default")},
			want: []any{"default", "10m"},
		},
		{
			name: "endpoints beyond three are counted",
			gvk:  gvk("", "v1", "Endpoints"),
			obj: &corev1.Endpoints{ObjectMeta: objectMeta("web"), Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "fd00::3"}},
				Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}},
			}}},
			want: []any{"web", "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...", "10m"},
		},
		{
			name: "endpoint slice",
			gvk:  gvk("discovery.k8s.io", "v1", "EndpointSlice"),
			obj: &discoveryv1.EndpointSlice{
				ObjectMeta:  objectMeta("web-abc"),
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Port: i32(80)}, {Name: str("metrics")}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}},
			},
			want: []any{"web-abc", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2", "10m"},
		},
		{
			name: "core event",
			gvk:  gvk("", "v1", "Event"),
			obj: &corev1.Event{
				ObjectMeta:     objectMeta("web.17a"),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
				Reason:         "Pulled", Message: "Successfully pulled image\n", Type: corev1.EventTypeNormal,
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(5 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 3,
			},
			want: []any{"2m", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, node-1", "Successfully pulled image", "5m", int64(3), "web.17a"},
		},
		{
			name: "events.k8s.io event prints like a core event",
			gvk:  gvk("events.k8s.io", "v1", "Event"),
			obj: &eventsv1.Event{
				ObjectMeta:          objectMeta("web.17b"),
				EventTime:           metav1.NewMicroTime(now.Add(-30 * time.Second)),
				ReportingController: "default-scheduler", ReportingInstance: "sched-1",
				Regarding: corev1.ObjectReference{Kind: "Pod", Name: "web"},
				Reason:    "Scheduled", Note: "Successfully assigned default/web to node-1", Type: corev1.EventTypeNormal,
			},
			want: []any{"30s", "Normal", "Scheduled", "pod/web", "", "default-scheduler, sched-1", "Successfully assigned default/web to node-1", "30s", int64(1), "web.17b"},
		},
		{
			name: "persistent volume",
			gvk:  gvk("", "v1", "PersistentVolume"),
			obj: &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "pv-1", CreationTimestamp: ago(10 * time.Minute)},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data"},
					StorageClassName:              "standard",
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
			want: []any{"pv-1", "10Gi", "RWO,RWX", "Delete", "Bound", "default/data", "standard", "<unset>", "", "10m", "Filesystem"},
		},
		{
			name: "bound claim",
			gvk:  gvk("", "v1", "PersistentVolumeClaim"),
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: objectMeta("data"),
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: str("standard")},
				Status: corev1.PersistentVolumeClaimStatus{
					Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				},
			},
			want: []any{"data", "Bound", "pv-1", "10Gi", "RWO", "standard", "<unset>", "10m", "Filesystem"},
		},
		{
			name: "pending claim shows no capacity",
			gvk:  gvk("", "v1", "PersistentVolumeClaim"),
			obj:  &corev1.PersistentVolumeClaim{ObjectMeta: objectMeta("data")},
			want: []any{"data", "Pending", "", "", "", "", "<unset>", "10m", "Filesystem"},
		},
		{
			name: "replication controller selector defaults to template labels",
			gvk:  gvk("", "v1", "ReplicationController"),
			obj: &corev1.ReplicationController{
				ObjectMeta: objectMeta("rc"),
				Spec:       corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rc"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{container("app", "nginx")}}}},
				Status:     corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 1},
			},
			want: []any{"rc", int64(1), int64(1), int64(1), "10m", "app", "nginx", "app=rc"},
		},
		{
			name: "resource quota splits requests and limits",
			gvk:  gvk("", "v1", "ResourceQuota"),
			obj: &corev1.ResourceQuota{
				ObjectMeta: objectMeta("quota"),
				Status: corev1.ResourceQuotaStatus{
					Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("4Gi")},
					Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")},
				},
			},
			want: []any{"quota", "pods: 3/10, requests.cpu: 500m/2", "limits.memory: 0/4Gi", "10m"},
		},
		{
			name: "replica set",
			gvk:  gvk("apps", "v1", "ReplicaSet"),
			obj: &appsv1.ReplicaSet{
				ObjectMeta: objectMeta("web-7d9"),
				Spec:       appsv1.ReplicaSetSpec{Replicas: i32(3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate(container("nginx", "nginx"))},
				Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
			},
			want: []any{"web-7d9", int64(3), int64(3), int64(1), "10m", "nginx", "nginx", "app=web"},
		},
		{
			name: "stateful set with defaulted replicas",
			gvk:  gvk("apps", "v1", "StatefulSet"),
			obj:  &appsv1.StatefulSet{ObjectMeta: objectMeta("db"), Spec: appsv1.StatefulSetSpec{Template: podTemplate(container("pg", "postgres:17"))}},
			want: []any{"db", "0/1", "10m", "pg", "postgres:17"},
		},
		{
			name: "daemon set",
			gvk:  gvk("apps", "v1", "DaemonSet"),
			obj: &appsv1.DaemonSet{
				ObjectMeta: objectMeta("agent"),
				Spec: appsv1.DaemonSetSpec{
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Containers: []corev1.Container{container("agent", "agent:1")}}},
				},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2},
			},
			want: []any{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "10m", "agent", "agent:1", "app=agent"},
		},
		{
			name: "controller revision",
			gvk:  gvk("apps", "v1", "ControllerRevision"),
			obj: &appsv1.ControllerRevision{
				ObjectMeta: func() metav1.ObjectMeta {
					m := objectMeta("agent-5f")
					m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: new(true)}}
					return m
				}(),
				Revision: 2,
			},
			want: []any{"agent-5f", "daemonset.apps/agent", int64(2), "10m"},
		},
		{
			name: "finished job",
			gvk:  gvk("batch", "v1", "Job"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("backup"),
				Spec:       batchv1.JobSpec{Completions: i32(1), Template: podTemplate(container("backup", "restic"))},
				Status: batchv1.JobStatus{
					Succeeded: 1, StartTime: new(ago(9 * time.Minute)), CompletionTime: new(ago(8*time.Minute + 30*time.Second)),
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}},
				},
			},
			want: []any{"backup", "Complete", "1/1", "30s", "10m", "backup", "restic", "<none>"},
		},
		{
			name: "work queue job",
			gvk:  gvk("batch", "v1", "Job"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("queue"),
				Spec:       batchv1.JobSpec{Parallelism: i32(4), Template: podTemplate(container("w", "worker"))},
				Status:     batchv1.JobStatus{StartTime: new(ago(3 * time.Minute))},
			},
			want: []any{"queue", "Running", "0/1 of 4", "3m", "10m", "w", "worker", "<none>"},
		},
		{
			name: "cron job",
			gvk:  gvk("batch", "v1", "CronJob"),
			obj: &batchv1.CronJob{
				ObjectMeta: objectMeta("nightly"),
				Spec: batchv1.CronJobSpec{
					Schedule: "0 3 * * *", TimeZone: str("Europe/Paris"),
					JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate(container("backup", "restic"))}},
				},
				Status: batchv1.CronJobStatus{LastScheduleTime: new(ago(9 * time.Hour))},
			},
			want: []any{"nightly", "0 3 * * *", "Europe/Paris", "False", int64(0), "9h", "10m", "backup", "restic", "<none>"},
		},
		{
			name: "autoscaling/v2 HPA",
			gvk:  gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
			obj: &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: objectMeta("web"),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
					MinReplicas:    i32(2), MaxReplicas: 10,
					Metrics: []autoscalingv2.MetricSpec{
						{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(70)}}},
						{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("500Mi"))}}},
						{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("100"))}}},
					},
				},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{
					CurrentReplicas: 3,
					CurrentMetrics:  []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: i32(42)}}}},
				},
			},
			want: []any{"web", "Deployment/web", "cpu: 42%/70%, memory: <unknown>/500Mi + 1 more...", "2", int64(10), int64(3), "10m"},
		},
		{
			name: "autoscaling/v1 HPA",
			gvk:  gvk("autoscaling", "v1", "HorizontalPodAutoscaler"),
			obj: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: objectMeta("web"),
				Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
					ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
					MaxReplicas:                    5,
					TargetCPUUtilizationPercentage: i32(50),
				},
				Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, CurrentCPUUtilizationPercentage: i32(12)},
			},
			want: []any{"web", "Deployment/web", "cpu: 12%/50%", "1", int64(5), int64(1), "10m"},
		},
		{
			name: "autoscaling/v1 HPA without a target scales on CPU",
			gvk:  gvk("autoscaling", "v1", "HorizontalPodAutoscaler"),
			obj: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: objectMeta("web"),
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MinReplicas: i32(1), MaxReplicas: 3},
			},
			want: []any{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(3), int64(0), "10m"},
		},
		{
			name: "pod disruption budget",
			gvk:  gvk("policy", "v1", "PodDisruptionBudget"),
			obj: &policyv1.PodDisruptionBudget{
				ObjectMeta: objectMeta("web"),
				Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: new(intstr.FromString("50%"))},
				Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1},
			},
			want: []any{"web", "50%", "N/A", int64(1), "10m"},
		},
		{
			name: "ingress",
			gvk:  gvk("networking.k8s.io", "v1", "Ingress"),
			obj: &networkingv1.Ingress{
				ObjectMeta: objectMeta("web"),
				Spec: networkingv1.IngressSpec{
					IngressClassName: str("nginx"),
					Rules:            []networkingv1.IngressRule{{Host: "a.example.com"}, {}, {Host: "b.example.com"}, {Host: "c.example.com"}, {Host: "d.example.com"}},
					TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
				},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example.com"}, {IP: "203.0.113.7"}}}},
			},
			want: []any{"web", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...", "203.0.113.7,lb.example.com", "80, 443", "10m"},
		},
		{
			name: "ingress without rules",
			gvk:  gvk("networking.k8s.io", "v1", "Ingress"),
			obj:  &networkingv1.Ingress{ObjectMeta: objectMeta("default-backend")},
			want: []any{"default-backend", "<none>", "*", "", "80", "10m"},
		},
		{
			name: "default ingress class",
			gvk:  gvk("networking.k8s.io", "v1", "IngressClass"),
			obj: &networkingv1.IngressClass{
				ObjectMeta: metav1.ObjectMeta{Name: "nginx", CreationTimestamp: ago(10 * time.Minute), Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}},
				Spec: networkingv1.IngressClassSpec{
					Controller: "k8s.io/ingress-nginx",
					Parameters: &networkingv1.IngressClassParametersReference{APIGroup: str("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"},
				},
			},
			want: []any{"nginx (default)", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "10m"},
		},
		{
			name: "network policy selecting every pod",
			gvk:  gvk("networking.k8s.io", "v1", "NetworkPolicy"),
			obj:  &networkingv1.NetworkPolicy{ObjectMeta: objectMeta("deny-all")},
			want: []any{"deny-all", "<none>", "10m"},
		},
		{
			name: "lease",
			gvk:  gvk("coordination.k8s.io", "v1", "Lease"),
			obj:  &coordinationv1.Lease{ObjectMeta: objectMeta("kube-scheduler"), Spec: coordinationv1.LeaseSpec{HolderIdentity: str("sched-1_abc")}},
			want: []any{"kube-scheduler", "sched-1_abc", "10m"},
		},
		{
			name: "priority class",
			gvk:  gvk("scheduling.k8s.io", "v1", "PriorityClass"),
			obj:  &schedulingv1.PriorityClass{ObjectMeta: objectMeta("system-node-critical"), Value: 2000001000},
			want: []any{"system-node-critical", int64(2000001000), false, "10m", "PreemptLowerPriority"},
		},
		{
			name: "role binding",
			gvk:  gvk("rbac.authorization.k8s.io", "v1", "RoleBinding"),
			obj: &rbacv1.RoleBinding{
				ObjectMeta: objectMeta("edit"),
				RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "alice"}, {Kind: rbacv1.UserKind, Name: "bob"},
					{Kind: rbacv1.GroupKind, Name: "devs"},
					{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "deployer"},
				},
			},
			want: []any{"edit", "ClusterRole/edit", "10m", "alice, bob", "devs", "ci/deployer"},
		},
		{
			name: "cluster role binding",
			gvk:  gvk("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
			obj:  &rbacv1.ClusterRoleBinding{ObjectMeta: objectMeta("admins"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}},
			want: []any{"admins", "ClusterRole/cluster-admin", "10m", "", "", ""},
		},
		{
			name: "role has the default table",
			gvk:  gvk("rbac.authorization.k8s.io", "v1", "Role"),
			obj:  &rbacv1.Role{ObjectMeta: objectMeta("reader")},
			want: []any{"reader", "2026-03-01T11:50:00Z"},
		},
		{
			name: "limit range has the default table",
			gvk:  gvk("", "v1", "LimitRange"),
			obj:  &corev1.LimitRange{ObjectMeta: objectMeta("limits")},
			want: []any{"limits", "2026-03-01T11:50:00Z"},
		},
		{
			name: "storage class",
			gvk:  gvk("storage.k8s.io", "v1", "StorageClass"),
			obj: &storagev1.StorageClass{
				ObjectMeta:  objectMeta("fast"),
				Provisioner: "csi.example.com", AllowVolumeExpansion: new(true),
				VolumeBindingMode: new(storagev1.VolumeBindingWaitForFirstConsumer),
			},
			want: []any{"fast", "csi.example.com", "Delete", "WaitForFirstConsumer", true, "10m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := Table(tt.gvk, []runtime.Object{tt.obj}, false, now)
			if err != nil {
				t.Fatalf("Table: %v", err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			if got := table.Rows[0].Cells; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells\n got: %#v\nwant: %#v", got, tt.want)
			}
			if len(table.ColumnDefinitions) != len(tt.want) {
				t.Errorf("%d columns for %d cells", len(table.ColumnDefinitions), len(tt.want))
			}
		})
	}
}

func TestTableColumns(t *testing.T) {
	tests := []struct {
		gvk schema.GroupVersionKind
		// want lists the column names; wide-only (priority 1) ones end in "*".
		want []string
	}{
		{podGVK, []string{"Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*", "Readiness Gates*"}},
		{gvk("", "v1", "Node"), []string{"Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*", "Kernel-Version*", "Container-Runtime*"}},
		{serviceGVK, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"}},
		{deploymentGVK, []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*", "Selector*"}},
		{gvk("", "v1", "Event"), []string{"Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message", "First Seen*", "Count*", "Name*"}},
		{gvk("events.k8s.io", "v1", "Event"), []string{"Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message", "First Seen*", "Count*", "Name*"}},
		{gvk("", "v1", "PersistentVolume"), []string{"Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age", "VolumeMode*"}},
		{gvk("autoscaling", "v1", "HorizontalPodAutoscaler"), []string{"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"}},
		{gvk("batch", "v1", "CronJob"), []string{"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "Containers*", "Images*", "Selector*"}},
		{gvk("rbac.authorization.k8s.io", "v1", "ClusterRole"), []string{"Name", "Created At"}},
		{gvk("example.com", "v1", "Widget"), []string{"Name", "Created At"}},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.String(), func(t *testing.T) {
			table, err := Table(tt.gvk, nil, false, now)
			if err != nil {
				t.Fatalf("Table: %v", err)
			}
			var got []string
			for _, c := range table.ColumnDefinitions {
				name := c.Name
				if c.Priority == 1 {
					name += "*"
				}
				got = append(got, name)
				if c.Name == "Name" && c.Format != "name" {
					t.Errorf("Name column has format %q", c.Format)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns\n got: %q\nwant: %q", got, tt.want)
			}
			if len(table.Rows) != 0 {
				t.Errorf("got %d rows for no objects", len(table.Rows))
			}
		})
	}
}

func TestTableDefaultColumnTypes(t *testing.T) {
	table, err := Table(gvk("", "v1", "LimitRange"), nil, false, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]},
		{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
	}
	if !reflect.DeepEqual(table.ColumnDefinitions, want) {
		t.Errorf("got %#v", table.ColumnDefinitions)
	}
}

func TestTableNoHeaders(t *testing.T) {
	table, err := Table(podGVK, []runtime.Object{&corev1.Pod{ObjectMeta: objectMeta("a")}, &corev1.Pod{ObjectMeta: objectMeta("b")}}, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if table.ColumnDefinitions != nil {
		t.Errorf("got columns %v with noHeaders", table.ColumnDefinitions)
	}
	if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "a" || table.Rows[1].Cells[0] != "b" {
		t.Errorf("rows not in object order: %v", table.Rows)
	}
	if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
		t.Errorf("table is %s %s", table.APIVersion, table.Kind)
	}
}

func TestTablePodRowConditions(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: objectMeta("ok"), Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
		&corev1.Pod{ObjectMeta: objectMeta("failed"), Status: corev1.PodStatus{Phase: corev1.PodFailed}},
		&corev1.Pod{ObjectMeta: objectMeta("running"), Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	}
	table, err := Table(podGVK, objs, false, now)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Succeeded", "Failed", ""} {
		var got string
		if c := table.Rows[i].Conditions; len(c) == 1 && c[0].Type == metav1.RowCompleted {
			got = c[0].Reason
		}
		if got != want {
			t.Errorf("row %d: completed reason %q, want %q", i, got, want)
		}
	}
}

func TestTableStorageClassEffectiveDefault(t *testing.T) {
	def := func(name string, created time.Duration) *storagev1.StorageClass {
		return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{
			Name: name, CreationTimestamp: ago(created),
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		}}
	}
	objs := []runtime.Object{def("old", time.Hour), def("b-new", time.Minute), def("a-new", time.Minute), &storagev1.StorageClass{ObjectMeta: objectMeta("plain")}}
	table, err := Table(gvk("storage.k8s.io", "v1", "StorageClass"), objs, true, now)
	if err != nil {
		t.Fatal(err)
	}
	var names []any
	for _, r := range table.Rows {
		names = append(names, r.Cells[0])
	}
	if want := []any{"old", "b-new", "a-new (default)", "plain"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}

func TestTableUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cfg", "creationTimestamp": "2026-03-01T11:50:00Z"},
		"data":     map[string]any{"a": "1"},
	}}
	table, err := Table(gvk("", "v1", "ConfigMap"), []runtime.Object{u}, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"cfg", int64(1), "10m"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells %#v, want %#v", table.Rows[0].Cells, want)
	}

	table, err = Table(gvk("example.com", "v1", "Widget"), []runtime.Object{u}, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"cfg", "2026-03-01T11:50:00Z"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("default cells %#v, want %#v", table.Rows[0].Cells, want)
	}
}

func TestTableWrongType(t *testing.T) {
	_, err := Table(podGVK, []runtime.Object{&corev1.Service{}}, false, now)
	if !errors.Is(err, ErrUnexpectedObject) {
		t.Errorf("got %v, want ErrUnexpectedObject", err)
	}
}

// Every printer must produce one cell per column, or kubectl misaligns output.
func TestEveryPrinterFillsEveryColumn(t *testing.T) {
	for gk, p := range kindPrinters {
		obj := emptyObject(t, gk)
		rows, err := p.rows([]runtime.Object{obj}, now)
		if err != nil {
			t.Errorf("%v: %v", gk, err)
			continue
		}
		if len(rows[0].Cells) != len(p.columns) {
			t.Errorf("%v: %d cells for %d columns", gk, len(rows[0].Cells), len(p.columns))
		}
	}
}

// emptyObject is a zero object of the kind, in the version Kubernetes stores.
func emptyObject(t *testing.T, gk schema.GroupKind) runtime.Object {
	t.Helper()
	version := "v1"
	if gk.Group == "autoscaling" {
		version = "v2"
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gk.WithVersion(version))
	objs, err := typedObjects(gk.WithVersion(version), []runtime.Object{u})
	if err != nil {
		t.Fatalf("%v: %v", gk, err)
	}
	return objs[0]
}
