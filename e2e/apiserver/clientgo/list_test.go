package clientgo

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestListLabelSelector(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)
	objects := map[string]map[string]string{
		"sel-a1": {"app": "a", "tier": "front"},
		"sel-a2": {"app": "a"},
		"sel-b1": {"app": "b", "tier": "back"},
		"sel-c1": {"app": "c"},
		"sel-n1": {"tier": "front"},
		"sel-n2": nil,
	}
	for name, labels := range objects {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		selector string
		want     []string
	}{
		{"app=a", sorted("sel-a1", "sel-a2")},
		{"app==a", sorted("sel-a1", "sel-a2")},
		{"app!=a", sorted("sel-b1", "sel-c1", "sel-n1", "sel-n2")},
		{"app in (a,b)", sorted("sel-a1", "sel-a2", "sel-b1")},
		{"app notin (a,b)", sorted("sel-c1", "sel-n1", "sel-n2")},
		{"tier", sorted("sel-a1", "sel-b1", "sel-n1")},
		{"!tier", sorted("sel-a2", "sel-c1", "sel-n2")},
		{"app=a,tier=front", sorted("sel-a1")},
		{"app,!tier", sorted("sel-a2", "sel-c1")},
		{"app in (a,c),tier notin (front)", sorted("sel-a2", "sel-c1")},
		{"app=zzz", sorted()},
		{"", sorted("sel-a1", "sel-a2", "sel-b1", "sel-c1", "sel-n1", "sel-n2")},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: tt.selector})
			if err != nil {
				t.Fatal(err)
			}
			// Only the objects of this test count (a controller may add others).
			got := slices.DeleteFunc(cmNames(list), func(n string) bool { return !strings.HasPrefix(n, "sel-") })
			if !slices.Equal(got, tt.want) {
				t.Errorf("labelSelector %q: got %v, want %v", tt.selector, got, tt.want)
			}
		})
	}
	// A malformed selector is a 400.
	_, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app in (a"})
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
}

func TestListFieldSelector(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)

	onN1 := podSpec()
	onN1.NodeName = "n1"
	onN2 := podSpec()
	onN2.NodeName = "n2"
	for name, spec := range map[string]corev1.PodSpec{"p1": onN1, "p2": onN2, "p3": podSpec()} {
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p2, err := pods.Get(ctx, "p2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, p2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		selector string
		want     []string
	}{
		{"metadata.name=p1", sorted("p1")},
		{"metadata.name!=p1", sorted("p2", "p3")},
		{"metadata.namespace=" + ns, sorted("p1", "p2", "p3")},
		{"spec.nodeName=n1", sorted("p1")},
		{"spec.nodeName=", sorted("p3")},
		{"spec.nodeName!=", sorted("p1", "p2")},
		{"status.phase=Running", sorted("p2")},
		{"status.phase=Pending", sorted("p1", "p3")},
		{"status.phase!=Pending,spec.nodeName=n2", sorted("p2")},
		{"status.phase=Running,spec.nodeName=n1", sorted()},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: tt.selector})
			if err != nil {
				t.Fatal(err)
			}
			if got := podNames(list); !slices.Equal(got, tt.want) {
				t.Errorf("fieldSelector %q: got %v, want %v", tt.selector, got, tt.want)
			}
		})
	}
	// Across namespaces, the field selector still applies.
	all, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1,metadata.namespace=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	if got := podNames(all); !slices.Equal(got, sorted("p1")) {
		t.Errorf("all-namespace list with fieldSelector: %v, want [p1]", got)
	}
	// A field that pods do not index is a 400 (spec.restartPolicy would be one they do).
	_, err = pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.dnsPolicy=ClusterFirst"})
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
}

func TestListPaging(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	// Whatever a controller may have put into the namespace is part of the snapshot too.
	pre, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, cm := range pre.Items {
		want[cm.Name] = true
	}
	for i := range 50 {
		name := fmt.Sprintf("page-%02d", i)
		want[name] = true
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const limit = 7
	total := len(want)
	seen := map[string]int{}
	var listRV string
	// No selector: Kubernetes counts the remaining items only for unfiltered lists.
	opts := metav1.ListOptions{Limit: limit}
	pages := 0
	for {
		page, err := cms.List(ctx, opts)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(page.Items) > limit {
			t.Fatalf("page %d has %d items, limit %d", pages, len(page.Items), limit)
		}
		for _, cm := range page.Items {
			seen[cm.Name]++
		}
		if pages == 1 {
			listRV = page.ResourceVersion
			if page.Continue == "" {
				t.Fatal("first page of 50 objects with limit 7 has no continue token")
			}
			if r := page.RemainingItemCount; r == nil || *r != int64(total-limit) {
				t.Errorf("first page remainingItemCount = %v, want %d", deref(r), total-limit)
			}
			// The pages are one snapshot: an object created now is not in them.
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "page-zz-late"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if page.ResourceVersion != listRV {
			t.Errorf("page %d resourceVersion %s, want the first page's %s (one snapshot)", pages, page.ResourceVersion, listRV)
		}
		if page.Continue == "" {
			break
		}
		if pages > 50 {
			t.Fatal("paging does not end")
		}
		opts.Continue = page.Continue
	}
	if want := (total + limit - 1) / limit; pages != want {
		t.Errorf("%d pages, want %d for %d objects with limit %d", pages, want, total, limit)
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("%s seen %d times, want once", name, seen[name])
		}
	}
	for name := range seen {
		if !want[name] {
			t.Errorf("paging returned %s, which is not in the snapshot", name)
		}
	}
	// A malformed continue token is a 400.
	_, err = cms.List(ctx, metav1.ListOptions{Limit: limit, Continue: "not-a-token"})
	wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
}
