package defaults

import rbacv1 "k8s.io/api/rbac/v1"

func defaultRoleRef(ref *rbacv1.RoleRef) {
	setIfEmpty(&ref.APIGroup, rbacv1.GroupName)
}

// defaultSubjects fills each subject's API group: users and groups are RBAC
// concepts, service accounts are core objects.
func defaultSubjects(subjects []rbacv1.Subject) {
	for i := range subjects {
		switch subjects[i].Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			setIfEmpty(&subjects[i].APIGroup, rbacv1.GroupName)
		}
	}
}
