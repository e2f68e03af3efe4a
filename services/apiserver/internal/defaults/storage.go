package defaults

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func defaultStorageClass(sc *storagev1.StorageClass) {
	// Delete: a dynamically provisioned volume lives and dies with its claim.
	setIfNil(&sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
	setIfNil(&sc.VolumeBindingMode, storagev1.VolumeBindingImmediate)
}
