package validation

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC names only need to be usable as a URL path segment (so "system:admin"
// is fine).
var rbacName = pathvalidation.ValidatePathSegmentName

func validateRole(r *rbacv1.Role) field.ErrorList {
	all := validateMeta(&r.ObjectMeta, true, rbacName)
	for i, rule := range r.Rules {
		all = append(all, validatePolicyRule(rule, true, field.NewPath("rules").Index(i))...)
	}
	return all
}

func validateRoleUpdate(r, old *rbacv1.Role) field.ErrorList {
	return append(validateRole(r), validateMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)...)
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	all := validateMeta(&r.ObjectMeta, false, rbacName)
	for i, rule := range r.Rules {
		all = append(all, validatePolicyRule(rule, false, field.NewPath("rules").Index(i))...)
	}
	if ar := r.AggregationRule; ar != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			all = append(all, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range ar.ClusterRoleSelectors {
			sp := p.Index(i)
			all = append(all, validateLabelSelector(&ar.ClusterRoleSelectors[i], sp)...)
			if _, err := metav1.LabelSelectorAsSelector(&ar.ClusterRoleSelectors[i]); err != nil {
				all = append(all, field.Invalid(sp, ar.ClusterRoleSelectors[i], "invalid label selector."))
			}
		}
	}
	return all
}

func validateClusterRoleUpdate(r, old *rbacv1.ClusterRole) field.ErrorList {
	return append(validateClusterRole(r), validateMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)...)
}

// validatePolicyRule: a rule grants verbs either on resources or on
// non-resource URLs, and namespaced roles cannot grant the latter.
func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if len(rule.Verbs) == 0 {
		all = append(all, field.Required(fldPath.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			all = append(all, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			all = append(all, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return all
	}
	if len(rule.APIGroups) == 0 {
		all = append(all, field.Required(fldPath.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		all = append(all, field.Required(fldPath.Child("resources"), "resource rules must supply at least one resource"))
	}
	return all
}

func validateRoleBinding(b *rbacv1.RoleBinding) field.ErrorList {
	all := validateMeta(&b.ObjectMeta, true, rbacName)
	all = append(all, validateRoleRef(b.RoleRef, "Role", "ClusterRole")...)
	for i, s := range b.Subjects {
		all = append(all, validateSubject(s, true, field.NewPath("subjects").Index(i))...)
	}
	return all
}

// validateRoleBindingUpdate: roleRef is immutable so that a binding cannot
// be repointed at a role its writer may not grant; delete and recreate it.
func validateRoleBindingUpdate(b, old *rbacv1.RoleBinding) field.ErrorList {
	all := append(validateRoleBinding(b), validateMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)...)
	return append(all, validateImmutable(b.RoleRef, old.RoleRef, field.NewPath("roleRef"))...)
}

func validateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	all := validateMeta(&b.ObjectMeta, false, rbacName)
	all = append(all, validateRoleRef(b.RoleRef, "ClusterRole")...)
	for i, s := range b.Subjects {
		all = append(all, validateSubject(s, false, field.NewPath("subjects").Index(i))...)
	}
	return all
}

func validateClusterRoleBindingUpdate(b, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	all := append(validateClusterRoleBinding(b), validateMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)...)
	return append(all, validateImmutable(b.RoleRef, old.RoleRef, field.NewPath("roleRef"))...)
}

func validateRoleRef(ref rbacv1.RoleRef, kinds ...string) field.ErrorList {
	var all field.ErrorList
	p := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		all = append(all, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	if !slices.Contains(kinds, ref.Kind) {
		all = append(all, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		all = append(all, field.Required(p.Child("name"), ""))
	} else {
		all = append(all, errs(p.Child("name"), ref.Name, rbacName(ref.Name, false))...)
	}
	return all
}

func validateSubject(s rbacv1.Subject, namespaced bool, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if s.Name == "" {
		all = append(all, field.Required(fldPath.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			all = append(all, errs(fldPath.Child("name"), s.Name, apivalidation.ValidateServiceAccountName(s.Name, false))...)
		}
		if s.APIGroup != "" {
			all = append(all, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A RoleBinding defaults it to its own namespace; a cluster binding cannot.
		if !namespaced && s.Namespace == "" {
			all = append(all, field.Required(fldPath.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			all = append(all, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		all = append(all, field.NotSupported(fldPath.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return all
}
