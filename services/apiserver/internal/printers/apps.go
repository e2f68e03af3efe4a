package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func apps(kind string) schema.GroupKind { return schema.GroupKind{Group: appsv1.GroupName, Kind: kind} }

func init() {
	register(apps("Deployment"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Ready", "Number of the pod with ready state"),
			column("Up-to-date", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
			column("Available", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]),
		},
		rows: rowsOf(deploymentCells),
	})
	register(apps("ReplicaSet"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			typedColumn("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
			typedColumn("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
			typedColumn("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]),
		},
		rows: rowsOf(replicaSetCells),
	})
	register(apps("StatefulSet"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Ready", "Number of the pod with ready state"),
			ageColumn,
			containersColumn,
			imagesColumn,
		},
		rows: rowsOf(statefulSetCells),
	})
	dsStatusDoc := appsv1.DaemonSetStatus{}.SwaggerDoc()
	register(apps("DaemonSet"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			typedColumn("Desired", "integer", dsStatusDoc["desiredNumberScheduled"]),
			typedColumn("Current", "integer", dsStatusDoc["currentNumberScheduled"]),
			typedColumn("Ready", "integer", dsStatusDoc["numberReady"]),
			typedColumn("Up-to-date", "integer", dsStatusDoc["updatedNumberScheduled"]),
			typedColumn("Available", "integer", dsStatusDoc["numberAvailable"]),
			column("Node Selector", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
			ageColumn,
			containersColumn,
			imagesColumn,
			wideColumn("Selector", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
		},
		rows: rowsOf(daemonSetCells),
	})
	register(apps("ControllerRevision"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Controller", "Controller of the object"),
			column("Revision", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
			ageColumn,
		},
		rows: rowsOfErr(controllerRevisionCells),
	})
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []any {
	// Unlike the other workloads, an empty selector prints as "" here, not "<none>".
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicasOrDefault(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		since(d.CreationTimestamp, now),
		names,
		images,
		selector,
	}
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []any {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name,
		int64(replicasOrDefault(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		since(rs.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

func statefulSetCells(sts *appsv1.StatefulSet, now time.Time) []any {
	names, images := containerCells(sts.Spec.Template.Spec.Containers)
	return []any{
		sts.Name,
		fmt.Sprintf("%d/%d", sts.Status.ReadyReplicas, replicasOrDefault(sts.Spec.Replicas)),
		since(sts.CreationTimestamp, now),
		names,
		images,
	}
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []any {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []any{
		ds.Name,
		int64(ds.Status.DesiredNumberScheduled),
		int64(ds.Status.CurrentNumberScheduled),
		int64(ds.Status.NumberReady),
		int64(ds.Status.UpdatedNumberScheduled),
		int64(ds.Status.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		since(ds.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

func controllerRevisionCells(cr *appsv1.ControllerRevision, now time.Time) ([]any, error) {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, err
		}
		controller = qualifiedName(gv.WithKind(ref.Kind).GroupKind(), ref.Name)
	}
	return []any{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}, nil
}

// qualifiedName is how kubectl names an object with its kind: "daemonset.apps/fluentd".
func qualifiedName(gk schema.GroupKind, name string) string {
	if gk.Empty() {
		return name
	}
	return strings.ToLower(gk.String()) + "/" + name
}
