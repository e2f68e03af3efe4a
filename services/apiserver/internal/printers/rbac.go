package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Roles and ClusterRoles have no printer in Kubernetes and get the default table.

func init() {
	// Kubernetes documents these columns from the v1beta1 types; the text is the same data.
	register(schema.GroupKind{Group: rbacv1.GroupName, Kind: "RoleBinding"}, &kindPrinter{
		columns: bindingColumns(rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"),
		rows: rowsOf(func(rb *rbacv1.RoleBinding, now time.Time) []any {
			return bindingCells(rb.ObjectMeta, rb.RoleRef, rb.Subjects, now)
		}),
	})
	register(schema.GroupKind{Group: rbacv1.GroupName, Kind: "ClusterRoleBinding"}, &kindPrinter{
		columns: bindingColumns(rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"),
		rows: rowsOf(func(crb *rbacv1.ClusterRoleBinding, now time.Time) []any {
			return bindingCells(crb.ObjectMeta, crb.RoleRef, crb.Subjects, now)
		}),
	})
}

func bindingColumns(roleRefDoc, kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		column("Role", roleRefDoc),
		ageColumn,
		wideColumn("Users", "Users in the "+kind),
		wideColumn("Groups", "Groups in the "+kind),
		wideColumn("ServiceAccounts", "ServiceAccounts in the "+kind),
	}
}

// bindingCells shows the bound role as Kind/name and the subjects by kind;
// service accounts as namespace/name.
func bindingCells(meta metav1.ObjectMeta, role rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{
		meta.Name,
		role.Kind + "/" + role.Name,
		since(meta.CreationTimestamp, now),
		strings.Join(users, ", "),
		strings.Join(groups, ", "),
		strings.Join(sas, ", "),
	}
}
