package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource name sets from Kubernetes' pkg/apis/core/helper; an unprefixed
// name must be one of them.
var (
	standardContainerResources = []corev1.ResourceName{
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	}
	standardResources = []corev1.ResourceName{
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
		corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceStorage, corev1.ResourceRequestsStorage,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	}
	standardQuotaResources = []corev1.ResourceName{
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage,
		corev1.ResourceRequestsEphemeralStorage,
		corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
		corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims, corev1.ResourceConfigMaps,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	}
	// integerResources count objects, so fractions make no sense.
	integerResources = []corev1.ResourceName{
		corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
		corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
	}
)

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isQuotaHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix)
}

// isNativeResource: unprefixed or in a *kubernetes.io/ domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), "kubernetes.io/")
}

// isExtendedResourceName: a vendor resource such as example.com/gpu, which
// must also make a valid quota name once prefixed with "requests.".
func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isOvercommitAllowed: extended resources and hugepages are allocated
// whole, so their requests must equal their limits.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResourceName(name)
}

func isIntegerResourceName(name corev1.ResourceName) bool {
	return slices.Contains(integerResources, name) || isExtendedResourceName(name)
}

func validateResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	all := errs(fldPath, value, validation.IsQualifiedName(string(value)))
	if len(all) != 0 {
		return all
	}
	if !strings.Contains(string(value), "/") &&
		!slices.Contains(standardResources, value) && !isQuotaHugePageResourceName(value) {
		return append(all, field.Invalid(fldPath, value, "must be a standard resource type or fully qualified"))
	}
	return nil
}

func validateContainerResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	all := validateResourceName(value, fldPath)
	if !strings.Contains(string(value), "/") {
		if !slices.Contains(standardContainerResources, value) && !isHugePageResourceName(value) {
			return append(all, field.Invalid(fldPath, value, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(value) && !isExtendedResourceName(value) {
		return append(all, field.Invalid(fldPath, value, "doesn't follow extended resource name standard"))
	}
	return all
}

func validateQuotaResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	all := validateResourceName(value, fldPath)
	if !strings.Contains(string(value), "/") &&
		!slices.Contains(standardQuotaResources, value) && !isQuotaHugePageResourceName(value) {
		return append(all, field.Invalid(fldPath, value, "must be a standard resource for quota"))
	}
	return all
}

func validateResourceQuantity(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	all := validateNonnegativeQuantity(value, fldPath)
	if isIntegerResourceName(name) && value.MilliValue()%1000 != 0 {
		all = append(all, field.Invalid(fldPath, value.String(), isNotIntegerMsg))
	}
	return all
}

// validateResourceRequirements checks names, non-negative quantities and
// requests <= limits (== for resources that cannot be overcommitted).
func validateResourceRequirements(req *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	hasCPUOrMemory, hasHugePages := false, false
	note := func(name corev1.ResourceName) {
		switch {
		case name == corev1.ResourceCPU || name == corev1.ResourceMemory:
			hasCPUOrMemory = true
		case isHugePageResourceName(name):
			hasHugePages = true
		}
	}
	for _, name := range sortedKeys(req.Limits) {
		p := limPath.Key(string(name))
		all = append(all, validateContainerResourceName(name, p)...)
		all = append(all, validateResourceQuantity(name, req.Limits[name], p)...)
		note(name)
	}
	for _, name := range sortedKeys(req.Requests) {
		quantity := req.Requests[name]
		p := reqPath.Key(string(name))
		all = append(all, validateContainerResourceName(name, p)...)
		all = append(all, validateResourceQuantity(name, quantity, p)...)
		note(name)
		limit, hasLimit := req.Limits[name]
		switch {
		case hasLimit && !isOvercommitAllowed(name) && quantity.Cmp(limit) != 0:
			all = append(all, field.Invalid(reqPath, quantity.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case hasLimit && quantity.Cmp(limit) > 0:
			all = append(all, field.Invalid(reqPath, quantity.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !hasLimit && !isOvercommitAllowed(name):
			all = append(all, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
	}
	if hasHugePages && !hasCPUOrMemory {
		all = append(all, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	return all
}

// sortedKeys gives map iteration a stable order so errors come out the same
// on every call.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
