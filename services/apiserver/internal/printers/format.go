package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Column descriptions are the API's own field documentation, as in Kubernetes.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}

	// Workload controllers show their pod template in wide output.
	containersColumn = metav1.TableColumnDefinition{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."}
	imagesColumn     = metav1.TableColumnDefinition{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."}
)

// column is a normal (priority 0) string column.
func column(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: description}
}

// typedColumn is a normal column whose values are not strings.
func typedColumn(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn is a string column kubectl shows only with -o wide.
func wideColumn(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Priority: 1, Description: description}
}

// since is the human-readable time elapsed from t to now, as in the AGE column.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// sinceMicro is since for MicroTime timestamps.
func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// containerCells lists container names and images, comma-separated, for
// the wide CONTAINERS and IMAGES columns.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// boolPtrCell prints an optional boolean as kubectl describes it.
func boolPtrCell(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// replicasOrDefault is a workload's desired replica count; the API
// defaults an unset count to 1.
func replicasOrDefault(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// truncatedList joins up to limit items and says how many of total were
// left out, the way kubectl abbreviates long lists ("a,b,c + 2 more...").
func truncatedList(items []string, total, limit int) string {
	joined := strings.Join(items, ",")
	if total > limit {
		return fmt.Sprintf("%s + %d more...", joined, total-limit)
	}
	return joined
}

// loadBalancerAddress is what a load balancer entry is known by: its IP,
// or its hostname when it has no IP.
func loadBalancerAddress(ip, hostname string) string {
	if ip != "" {
		return ip
	}
	return hostname
}

// joinAddresses joins the sorted, de-duplicated, non-empty addresses of a
// load balancer. Kubernetes clips the result to 16 characters only for
// non-wide output, which the server never produces.
func joinAddresses(addrs []string) string {
	set := sets.New[string]()
	for _, a := range addrs {
		if a != "" {
			set.Insert(a)
		}
	}
	return strings.Join(sets.List(set), ",")
}
