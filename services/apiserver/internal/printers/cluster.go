package printers

import (
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printers for the small cluster-level groups: policy, scheduling,
// coordination, node and admissionregistration.

func init() {
	register(schema.GroupKind{Group: policyv1.GroupName, Kind: "PodDisruptionBudget"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Min Available", "The minimum number of pods that must be available."),
			column("Max Unavailable", "The maximum number of pods that may be unavailable."),
			typedColumn("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
			ageColumn,
		},
		rows: rowsOf(podDisruptionBudgetCells),
	})
	pcDoc := schedulingv1.PriorityClass{}.SwaggerDoc()
	register(schema.GroupKind{Group: schedulingv1.GroupName, Kind: "PriorityClass"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			typedColumn("Value", "integer", pcDoc["value"]),
			typedColumn("Global-Default", "boolean", pcDoc["globalDefault"]),
			ageColumn,
			column("PreemptionPolicy", pcDoc["preemptionPolicy"]),
		},
		rows: rowsOf(priorityClassCells),
	})
	register(schema.GroupKind{Group: coordinationv1.GroupName, Kind: "Lease"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Holder", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			ageColumn,
		},
		rows: rowsOf(func(l *coordinationv1.Lease, now time.Time) []any {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, since(l.CreationTimestamp, now)}
		}),
	})
	register(schema.GroupKind{Group: nodev1.GroupName, Kind: "RuntimeClass"}, &kindPrinter{
		// Kubernetes documents HANDLER with an ObjectMeta field that does not exist, so it is empty.
		columns: []metav1.TableColumnDefinition{nameColumn, column("Handler", objectMetaDoc["handler"]), ageColumn},
		rows: rowsOf(func(rc *nodev1.RuntimeClass, now time.Time) []any {
			return []any{rc.Name, rc.Handler, since(rc.CreationTimestamp, now)}
		}),
	})
	webhookColumns := []metav1.TableColumnDefinition{
		nameColumn,
		typedColumn("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
		ageColumn,
	}
	register(schema.GroupKind{Group: admissionregistrationv1.GroupName, Kind: "MutatingWebhookConfiguration"}, &kindPrinter{
		columns: webhookColumns,
		rows: rowsOf(func(c *admissionregistrationv1.MutatingWebhookConfiguration, now time.Time) []any {
			return []any{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}
		}),
	})
	register(schema.GroupKind{Group: admissionregistrationv1.GroupName, Kind: "ValidatingWebhookConfiguration"}, &kindPrinter{
		columns: webhookColumns,
		rows: rowsOf(func(c *admissionregistrationv1.ValidatingWebhookConfiguration, now time.Time) []any {
			return []any{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}
		}),
	})
}

func podDisruptionBudgetCells(pdb *policyv1.PodDisruptionBudget, now time.Time) []any {
	minAvailable, maxUnavailable := "N/A", "N/A"
	if pdb.Spec.MinAvailable != nil {
		minAvailable = pdb.Spec.MinAvailable.String()
	}
	if pdb.Spec.MaxUnavailable != nil {
		maxUnavailable = pdb.Spec.MaxUnavailable.String()
	}
	return []any{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), since(pdb.CreationTimestamp, now)}
}

func priorityClassCells(pc *schedulingv1.PriorityClass, now time.Time) []any {
	policy := corev1.PreemptLowerPriority // the API's default
	if pc.PreemptionPolicy != nil {
		policy = *pc.PreemptionPolicy
	}
	return []any{pc.Name, int64(pc.Value), pc.GlobalDefault, since(pc.CreationTimestamp, now), string(policy)}
}
