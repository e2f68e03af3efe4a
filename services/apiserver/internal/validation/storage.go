package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Caps on provisioner parameters from Kubernetes' storage validation.
const (
	maxProvisionerParameterSize = 256 * (1 << 10)
	maxProvisionerParameterLen  = 512
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	all := validateMeta(&sc.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		all = append(all, field.Required(pp, ""))
	} else {
		all = append(all, validateQualifiedName(strings.ToLower(sc.Provisioner), pp)...)
	}
	all = append(all, validateProvisionerParameters(sc.Parameters, field.NewPath("parameters"))...)
	if p := sc.ReclaimPolicy; p != nil && *p != "" && *p != corev1.PersistentVolumeReclaimDelete && *p != corev1.PersistentVolumeReclaimRetain {
		all = append(all, notSupported(field.NewPath("reclaimPolicy"), *p, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain))
	}
	mp := field.NewPath("volumeBindingMode")
	if sc.VolumeBindingMode == nil {
		all = append(all, field.Required(mp, ""))
	} else if m := *sc.VolumeBindingMode; m != storagev1.VolumeBindingImmediate && m != storagev1.VolumeBindingWaitForFirstConsumer {
		all = append(all, notSupported(mp, m, storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer))
	}
	for i, term := range sc.AllowedTopologies {
		tp := field.NewPath("allowedTopologies").Index(i)
		if len(term.MatchLabelExpressions) == 0 {
			all = append(all, field.Required(tp.Child("matchLabelExpressions"), "must have at least one label requirement"))
		}
		for j, r := range term.MatchLabelExpressions {
			rp := tp.Child("matchLabelExpressions").Index(j)
			all = append(all, validateQualifiedName(r.Key, rp.Child("key"))...)
			if len(r.Values) == 0 {
				all = append(all, field.Required(rp.Child("values"), "must specify as least one value"))
			}
		}
	}
	return all
}

func validateProvisionerParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	if len(params) > maxProvisionerParameterLen {
		return field.ErrorList{field.TooLong(fldPath, "", maxProvisionerParameterLen)}
	}
	var all field.ErrorList
	size := 0
	for _, k := range sortedKeys(params) {
		if k == "" {
			all = append(all, field.Invalid(fldPath, k, "field can not be empty."))
		}
		size += len(k) + len(params[k])
	}
	if size > maxProvisionerParameterSize {
		all = append(all, field.TooLong(fldPath, "", maxProvisionerParameterSize))
	}
	return all
}

// validateStorageClassUpdate: volumes were provisioned under the old
// settings, so everything that shaped them is fixed.
func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	all := validateMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateImmutable(sc.Parameters, old.Parameters, field.NewPath("parameters"))...)
	all = append(all, validateImmutable(sc.Provisioner, old.Provisioner, field.NewPath("provisioner"))...)
	all = append(all, validateImmutable(sc.ReclaimPolicy, old.ReclaimPolicy, field.NewPath("reclaimPolicy"))...)
	return append(all, validateImmutable(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}
