package kubectl

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// Server-side apply: kubectl apply --server-side creates and updates through
// application/apply-patch+yaml, the server records field ownership, and a
// second manager changing an owned field conflicts unless it forces.
func TestServerSideApply(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	k := c.Kubectl(t)
	ctx := ctxFor(t)
	ns := "e2e-ssa-" + framework.RandSuffix()
	k.MustRun("create", "namespace", ns)
	t.Cleanup(func() { framework.DeleteNamespace(t, cs, ns) })

	cm := func(mode string) string {
		return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: ` + ns + `
data:
  mode: ` + mode + "\n"
	}
	path := k.Dir() + "/cm.yaml"
	if err := writeFile(path, cm("fast")); err != nil {
		t.Fatal(err)
	}
	wantLines(t, k.MustRun("apply", "--server-side", "-f", path), "configmap/ssa serverside-applied")
	got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "ssa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["mode"] != "fast" {
		t.Fatalf("data %v", got.Data)
	}
	var owner string
	for _, e := range got.ManagedFields {
		if e.Operation == metav1.ManagedFieldsOperationApply {
			owner = e.Manager
		}
	}
	if owner != "kubectl" {
		t.Fatalf("managedFields %+v: want an Apply entry by kubectl", got.ManagedFields)
	}

	if err := writeFile(path, cm("slow")); err != nil {
		t.Fatal(err)
	}
	r := k.Run("apply", "--server-side", "--field-manager=other", "-f", path)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "conflict") {
		t.Fatalf("a second manager changing an owned field must conflict:\n%s", r)
	}
	k.MustRun("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", path)
	got, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "ssa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["mode"] != "slow" {
		t.Fatalf("forced apply: data %v", got.Data)
	}
}
