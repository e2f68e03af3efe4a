package printers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Annotations marking the cluster's default StorageClass.
const (
	isDefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaIsDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func storage(kind string) schema.GroupKind {
	return schema.GroupKind{Group: storagev1.GroupName, Kind: kind}
}

func init() {
	scDoc := storagev1.StorageClass{}.SwaggerDoc()
	register(storage("StorageClass"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Provisioner", scDoc["provisioner"]),
			column("ReclaimPolicy", scDoc["reclaimPolicy"]),
			column("VolumeBindingMode", scDoc["volumeBindingMode"]),
			column("AllowVolumeExpansion", scDoc["allowVolumeExpansion"]),
			ageColumn,
		},
		rows: storageClassRows,
	})
	vaSpecDoc := storagev1.VolumeAttachmentSpec{}.SwaggerDoc()
	register(storage("VolumeAttachment"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			{Name: "Attacher", Type: "string", Format: "name", Description: vaSpecDoc["attacher"]},
			column("PV", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
			column("Node", vaSpecDoc["nodeName"]),
			typedColumn("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
			ageColumn,
		},
		rows: rowsOf(func(va *storagev1.VolumeAttachment, now time.Time) []any {
			pv := ""
			if va.Spec.Source.PersistentVolumeName != nil {
				pv = *va.Spec.Source.PersistentVolumeName
			}
			return []any{va.Name, va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, since(va.CreationTimestamp, now)}
		}),
	})
	register(storage("CSINode"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			typedColumn("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
			ageColumn,
		},
		rows: rowsOf(func(n *storagev1.CSINode, now time.Time) []any {
			return []any{n.Name, int64(len(n.Spec.Drivers)), since(n.CreationTimestamp, now)}
		}),
	})
	register(storage("VolumeAttributesClass"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("DriverName", storagev1.VolumeAttributesClass{}.SwaggerDoc()["driverName"]),
			ageColumn,
		},
		rows: rowsOf(func(vac *storagev1.VolumeAttributesClass, now time.Time) []any {
			return []any{vac.Name, vac.DriverName, since(vac.CreationTimestamp, now)}
		}),
	})
}

// storageClassRows marks the effective default class "(default)". When
// several classes claim to be the default, the newest wins, then the first
// by name. Kubernetes marks it only when listing, never on a single get;
// drover's Table does not know which it serves and always marks it.
func storageClassRows(objs []runtime.Object, now time.Time) ([]metav1.TableRow, error) {
	classes := make([]*storagev1.StorageClass, len(objs))
	for i, obj := range objs {
		sc, ok := obj.(*storagev1.StorageClass)
		if !ok {
			return nil, fmt.Errorf("%w: got %T, want *v1.StorageClass", ErrUnexpectedObject, obj)
		}
		classes[i] = sc
	}

	var effective *storagev1.StorageClass
	for _, sc := range classes {
		if !isDefaultStorageClass(sc) {
			continue
		}
		if effective == nil ||
			sc.CreationTimestamp.After(effective.CreationTimestamp.Time) ||
			sc.CreationTimestamp.Equal(&effective.CreationTimestamp) && sc.Name < effective.Name {
			effective = sc
		}
	}

	rows := make([]metav1.TableRow, 0, len(classes))
	for _, sc := range classes {
		name := sc.Name
		if effective != nil && sc.Name == effective.Name {
			name += " (default)"
		}
		reclaim := string(corev1.PersistentVolumeReclaimDelete)
		if sc.ReclaimPolicy != nil {
			reclaim = string(*sc.ReclaimPolicy)
		}
		binding := string(storagev1.VolumeBindingImmediate)
		if sc.VolumeBindingMode != nil {
			binding = string(*sc.VolumeBindingMode)
		}
		expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		rows = append(rows, metav1.TableRow{Cells: []any{name, sc.Provisioner, reclaim, binding, expansion, since(sc.CreationTimestamp, now)}})
	}
	return rows, nil
}

func isDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[isDefaultStorageClassAnnotation] == "true" ||
		sc.Annotations[betaIsDefaultStorageClassAnnotation] == "true"
}
