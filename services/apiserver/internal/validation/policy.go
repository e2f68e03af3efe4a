package validation

import (
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validatePDB(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	all := validateMeta(&pdb.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validatePDBSpec(&pdb.Spec)...)
}

func validatePDBUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	return append(validateMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta), validatePDBSpec(&pdb.Spec)...)
}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec) field.ErrorList {
	var all field.ErrorList
	// The two say the same thing in opposite directions; both would conflict.
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		all = append(all, field.Invalid(specPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if v := spec.MinAvailable; v != nil {
		all = append(all, validatePositiveIntOrPercent(*v, specPath.Child("minAvailable"))...)
		all = append(all, validateNotMoreThan100Percent(*v, specPath.Child("minAvailable"))...)
	}
	if v := spec.MaxUnavailable; v != nil {
		all = append(all, validatePositiveIntOrPercent(*v, specPath.Child("maxUnavailable"))...)
		all = append(all, validateNotMoreThan100Percent(*v, specPath.Child("maxUnavailable"))...)
	}
	all = append(all, validateLabelSelector(spec.Selector, specPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil {
		all = append(all, validateEnum(*p, specPath.Child("unhealthyPodEvictionPolicy"), policyv1.AlwaysAllow, policyv1.IfHealthyBudget)...)
	}
	return all
}

func validatePDBStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	all := validateMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	s := pdb.Status
	all = append(all, metavalidation.ValidateConditions(s.Conditions, statusPath.Child("conditions"))...)
	return append(all, validateCounters(counter{"disruptionsAllowed", int64(s.DisruptionsAllowed)},
		counter{"currentHealthy", int64(s.CurrentHealthy)}, counter{"desiredHealthy", int64(s.DesiredHealthy)},
		counter{"expectedPods", int64(s.ExpectedPods)})...)
}

// validateEviction checks the body of a pods/eviction request: it names the
// pod to evict and may carry delete options.
func validateEviction(ev *policyv1.Eviction) field.ErrorList {
	all := validateMeta(&ev.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	if ev.DeleteOptions != nil {
		all = append(all, metavalidation.ValidateDeleteOptions(ev.DeleteOptions)...)
	}
	return all
}

func validateEvictionUpdate(ev, _ *policyv1.Eviction) field.ErrorList {
	return validateEviction(ev)
}
