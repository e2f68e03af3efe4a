package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validDeployment() *appsv1.Deployment {
	maxUnavailable, maxSurge := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge}},
			RevisionHistoryLimit:    ptr[int32](10),
			ProgressDeadlineSeconds: ptr[int32](600),
		},
	}
}

func validStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr[int32](3),
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template:            validTemplate(),
			ServiceName:         "db",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr[int32](0)}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		},
	}
}

func validDaemonSet() *appsv1.DaemonSet {
	maxUnavailable, maxSurge := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge}},
			RevisionHistoryLimit: ptr[int32](10),
		},
	}
}

func TestValidateDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []want
	}{
		{"valid", func(*appsv1.Deployment) {}, nil},
		{"selector required", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, []want{invalid("spec.selector")}},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "y"} }, []want{invalid("spec.template.metadata.labels")}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr[int32](-1) }, []want{invalid("spec.replicas")}},
		{"restartPolicy must be Always", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{notSupportedAt("spec.template.spec.restartPolicy")}},
		{"template container checked", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, []want{required("spec.template.spec.containers[0].image")}},
		{"strategy type", func(d *appsv1.Deployment) { d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "Blue"} }, []want{notSupportedAt("spec.strategy")}},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }, []want{forbidden("spec.strategy.rollingUpdate")}},
		{"maxUnavailable and maxSurge both 0", func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
		}, []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) {
			v := intstr.FromString("150%")
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
		}, []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"progress deadline not after minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, []want{invalid("spec.progressDeadlineSeconds")}},
		{"template labels invalid", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels["bad key"] = "x"
		}, []want{invalid("spec.template.labels")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.mutate(d)
			checkErrs(t, Validate(d), tt.want...)
		})
	}
}

func TestValidateWorkloadUpdates(t *testing.T) {
	tests := []struct {
		name string
		old  runtime.Object
		// mutate changes a copy of old.
		mutate func(runtime.Object)
		want   []want
	}{
		{"deployment scale and image", validDeployment(), func(o runtime.Object) {
			d := o.(*appsv1.Deployment)
			d.Spec.Replicas = ptr[int32](5)
			d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		}, nil},
		{"deployment selector immutable", validDeployment(), func(o runtime.Object) {
			d := o.(*appsv1.Deployment)
			d.Spec.Selector.MatchLabels["tier"] = "fe"
			d.Spec.Template.Labels["tier"] = "fe"
		}, []want{invalid("spec.selector")}},
		{"statefulset scale and template", validStatefulSet(), func(o runtime.Object) {
			s := o.(*appsv1.StatefulSet)
			s.Spec.Replicas = ptr[int32](5)
			s.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			s.Spec.MinReadySeconds = 5
			s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
			s.Spec.UpdateStrategy.RollingUpdate = nil
		}, nil},
		{"statefulset serviceName and policy immutable", validStatefulSet(), func(o runtime.Object) {
			s := o.(*appsv1.StatefulSet)
			s.Spec.ServiceName = "other"
			s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}, []want{invalid("spec.serviceName"), invalid("spec.podManagementPolicy")}},
		{"statefulset claim templates immutable", validStatefulSet(), func(o runtime.Object) {
			s := o.(*appsv1.StatefulSet)
			s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{validClaimTemplate("data")}
		}, []want{invalid("spec.volumeClaimTemplates")}},
		{"daemonset selector immutable", validDaemonSet(), func(o runtime.Object) {
			o.(*appsv1.DaemonSet).Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
		}, []want{invalid("spec.selector"), invalid("spec.template.metadata.labels")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := tt.old.DeepCopyObject()
			setResourceVersion(old)
			obj := old.DeepCopyObject()
			tt.mutate(obj)
			checkErrs(t, ValidateUpdate(obj, old), tt.want...)
		})
	}
}

func setResourceVersion(obj runtime.Object) {
	obj.(metav1.Object).SetResourceVersion("1")
}

func validClaimTemplate(name string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func TestValidateStatefulSetDaemonSetReplicaSet(t *testing.T) {
	tests := []struct {
		name string
		obj  func() runtime.Object
		want []want
	}{
		{"statefulset valid", func() runtime.Object { return validStatefulSet() }, nil},
		{"statefulset name must be a label", func() runtime.Object { s := validStatefulSet(); s.Name = "db.v1"; return s }, []want{invalid("metadata.name")}},
		{"statefulset mounts claim template", func() runtime.Object {
			s := validStatefulSet()
			s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{validClaimTemplate("data")}
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
			return s
		}, nil},
		{"statefulset bad serviceName and policies", func() runtime.Object {
			s := validStatefulSet()
			s.Spec.ServiceName = "Not.A.Label"
			s.Spec.PodManagementPolicy = "Random"
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
			return s
		}, []want{invalid("spec.serviceName"), invalid("spec.podManagementPolicy"), invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{"daemonset valid", func() runtime.Object { return validDaemonSet() }, nil},
		{"daemonset surge and unavailable", func() runtime.Object {
			d := validDaemonSet()
			d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(1))
			return d
		}, []want{invalid("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{"daemonset restart policy", func() runtime.Object {
			d := validDaemonSet()
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			return d
		}, []want{notSupportedAt("spec.template.spec.restartPolicy")}},
		{"replicaset valid", func() runtime.Object {
			return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns"}, Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: validTemplate()}}
		}, nil},
		{"replicaset selector missing", func() runtime.Object {
			return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns"}, Spec: appsv1.ReplicaSetSpec{Template: validTemplate()}}
		}, []want{required("spec.selector")}},
		{"controller revision data", func() runtime.Object {
			return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Data: runtime.RawExtension{Raw: []byte(`[1]`)}, Revision: 1}
		}, []want{required("data")}},
		{"controller revision valid", func() runtime.Object {
			return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, Validate(tt.obj()), tt.want...)
		})
	}
}

func TestValidateWorkloadStatus(t *testing.T) {
	old := validDeployment()
	old.ResourceVersion = "1"
	old.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CollisionCount: ptr[int32](2)}
	tests := []struct {
		name   string
		status appsv1.DeploymentStatus
		want   []want
	}{
		{"valid", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CollisionCount: ptr[int32](2)}, nil},
		{"ready above replicas", appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: ptr[int32](2)}, []want{invalid("status.readyReplicas")}},
		{"negative and decremented", appsv1.DeploymentStatus{Replicas: -1, CollisionCount: ptr[int32](1)}, []want{invalid("status.replicas"), invalid("status.collisionCount"),
			// Zero still exceeds -1, as in Kubernetes.
			invalid("status.updatedReplicas"), invalid("status.readyReplicas"), invalid("status.availableReplicas")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := old.DeepCopy()
			d.Status = tt.status
			checkErrs(t, ValidateStatusUpdate(d, old), tt.want...)
		})
	}
}
