// Package helm installs, upgrades, rolls back and uninstalls a chart made by
// `helm create` with the real helm v3 against a drover cluster. No pod needs to run.
package helm

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestMain(m *testing.M) {
	framework.Main(m, framework.MainOptions{Cluster: true, Binaries: []string{framework.BinHelm}})
}

type release struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  string `json:"revision"`
	Status    string `json:"status"`
	Chart     string `json:"chart"`
}

type historyEntry struct {
	Revision    int    `json:"revision"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

func TestHelmReleaseLifecycle(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ns := framework.TestNamespace(t, cs)
	h := c.Helm(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	h.MustRun("create", "mychart")
	chart := filepath.Join(h.Dir(), "mychart")

	out := h.MustRun("install", "rel", chart, "--namespace", ns)
	if !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "REVISION: 1") {
		t.Errorf("install output:\n%s", out)
	}
	const fullname = "rel-mychart"
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment from the chart: %v", err)
	}
	if *d.Spec.Replicas != 1 {
		t.Errorf("installed replicas %d, want 1", *d.Spec.Replicas)
	}
	if d.Labels["app.kubernetes.io/managed-by"] != "Helm" || d.Annotations["meta.helm.sh/release-name"] != "rel" {
		t.Errorf("deployment labels %v annotations %v, want helm's ownership marks", d.Labels, d.Annotations)
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx, fullname, metav1.GetOptions{}); err != nil {
		t.Errorf("service from the chart: %v", err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, fullname, metav1.GetOptions{}); err != nil {
		t.Errorf("service account from the chart: %v", err)
	}
	// Helm keeps each revision as a Secret, found by label selectors.
	wantReleaseSecrets(t, ctx, c, ns, 1)

	out = h.MustRun("upgrade", "rel", chart, "--namespace", ns, "--set", "replicaCount=2")
	if !strings.Contains(out, "REVISION: 2") {
		t.Errorf("upgrade output:\n%s", out)
	}
	if d, err = cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("upgraded replicas %d, want 2", *d.Spec.Replicas)
	}
	wantReleaseSecrets(t, ctx, c, ns, 2)

	var list []release
	if err := json.Unmarshal([]byte(h.MustRun("list", "--namespace", ns, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "rel" || list[0].Revision != "2" || list[0].Status != "deployed" || list[0].Chart != "mychart-0.1.0" {
		t.Errorf("helm list: %+v, want rel at revision 2, deployed, mychart-0.1.0", list)
	}
	if got := strings.TrimSpace(h.MustRun("get", "values", "rel", "--namespace", ns, "-o", "json")); got != `{"replicaCount":2}` {
		t.Errorf("helm get values: %s", got)
	}

	out = h.MustRun("rollback", "rel", "1", "--namespace", ns)
	if !strings.Contains(out, "Rollback was a success") {
		t.Errorf("rollback output:\n%s", out)
	}
	if d, err = cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 {
		t.Errorf("replicas after rollback %d, want 1", *d.Spec.Replicas)
	}
	var history []historyEntry
	if err := json.Unmarshal([]byte(h.MustRun("history", "rel", "--namespace", ns, "-o", "json")), &history); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, e := range history {
		statuses = append(statuses, e.Status)
	}
	if !slices.Equal(statuses, []string{"superseded", "superseded", "deployed"}) || history[2].Description != "Rollback to 1" {
		t.Errorf("history %+v, want two superseded revisions and a deployed \"Rollback to 1\"", history)
	}
	if out := h.MustRun("status", "rel", "--namespace", ns); !strings.Contains(out, "REVISION: 3") {
		t.Errorf("status after rollback:\n%s", out)
	}

	out = h.MustRun("uninstall", "rel", "--namespace", ns)
	if !strings.Contains(out, `release "rel" uninstalled`) {
		t.Errorf("uninstall output:\n%s", out)
	}
	_, err = cs.AppsV1().Deployments(ns).Get(ctx, fullname, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("deployment after uninstall: %v, want NotFound", err)
	}
	_, err = cs.CoreV1().Services(ns).Get(ctx, fullname, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("service after uninstall: %v, want NotFound", err)
	}
	wantReleaseSecrets(t, ctx, c, ns, 0)
	if out := strings.TrimSpace(h.MustRun("list", "--namespace", ns, "-q")); out != "" {
		t.Errorf("helm list after uninstall: %q", out)
	}
}

// wantReleaseSecrets checks that helm's storage holds n revisions of release rel.
func wantReleaseSecrets(t *testing.T, ctx context.Context, c *framework.Cluster, ns string, n int) {
	t.Helper()
	secrets, err := c.Clientset(t).CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=rel"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != n {
		t.Errorf("%d release secrets, want %d", len(secrets.Items), n)
	}
	for _, s := range secrets.Items {
		if s.Type != "helm.sh/release.v1" {
			t.Errorf("release secret %s has type %q", s.Name, s.Type)
		}
	}
}

func TestHelmInstallWithCreateNamespaceAndTemplate(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	h := c.Helm(t)
	ns := "e2e-helm-ns-" + framework.RandSuffix()
	t.Cleanup(func() { framework.DeleteNamespace(t, cs, ns) })

	h.MustRun("create", "other")
	chart := filepath.Join(h.Dir(), "other")
	// --dry-run=server renders and validates against the cluster without storing.
	out := h.MustRun("install", "dry", chart, "--namespace", "default", "--dry-run=server")
	if !strings.Contains(out, "kind: Deployment") {
		t.Errorf("dry run output lacks the rendered deployment:\n%.400s", out)
	}
	if _, err := cs.AppsV1().Deployments("default").Get(t.Context(), "dry-other", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry run stored a deployment: %v", err)
	}
	h.MustRun("install", "svc-only", chart, "--namespace", ns, "--create-namespace", "--set", "service.type=NodePort")
	svc, err := cs.CoreV1().Services(ns).Get(t.Context(), "svc-only-other", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != "NodePort" || svc.Spec.Ports[0].NodePort < 30000 {
		t.Errorf("NodePort service from the chart: type %s nodePort %d", svc.Spec.Type, svc.Spec.Ports[0].NodePort)
	}
	// A second install under the same name fails.
	r := h.Run("install", "svc-only", chart, "--namespace", ns)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "cannot re-use a name that is still in use") {
		t.Errorf("re-install under a used name:\n%s", r)
	}
	h.MustRun("uninstall", "svc-only", "--namespace", ns)
}
