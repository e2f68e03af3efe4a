package kubectl

import (
	"encoding/base64"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

// manifest returns the multi-document manifest the apply test uses, in its first or
// second version.
func manifest(ns string, second bool) string {
	replicas, image, mode, extraCM, sidecar := "1", "nginx:1.27", "fast", "\n  obsolete: \"yes\"", `
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]`
	if second {
		replicas, image, mode, extraCM, sidecar = "2", "nginx:1.28", "slow", "", ""
	}
	secret := base64.StdEncoding.EncodeToString([]byte("s3cret"))
	return strings.NewReplacer("NS", ns, "REPLICAS", replicas, "IMAGE", image, "MODE", mode, "EXTRACM", extraCM, "SIDECAR", sidecar, "SECRET", secret).Replace(`apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
  labels:
    app: web
spec:
  replicas: REPLICAS
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: IMAGE
        ports:
        - containerPort: 80SIDECAR
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: NS
data:
  mode: MODEEXTRACM
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: NS
type: Opaque
data:
  password: SECRET
`)
}

func TestApplyMultiDocumentManifest(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	k := c.Kubectl(t)
	ctx := ctxFor(t)
	ns := "e2e-apply-" + framework.RandSuffix()
	t.Cleanup(func() { framework.DeleteNamespace(t, cs, ns) })

	dir := k.Dir()
	write := func(name, content string) string {
		t.Helper()
		path := dir + "/" + name
		if err := writeFile(path, content); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v1 := write("v1.yaml", manifest(ns, false))
	out := k.MustRun("apply", "-f", v1)
	wantLines(t, out,
		"namespace/"+ns+" created",
		"deployment.apps/web created",
		"service/web created",
		"configmap/web-config created",
		"secret/web-secret created",
	)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Annotations["kubectl.kubernetes.io/last-applied-configuration"] == "" {
		t.Error("apply did not store kubectl.kubernetes.io/last-applied-configuration")
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 2 {
		t.Errorf("deployment has %d containers, want 2", n)
	}
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, "web-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) != "s3cret" {
		t.Errorf("secret data %q", s.Data)
	}

	// The same manifest again changes nothing.
	out = k.MustRun("apply", "-f", v1)
	wantLines(t, out,
		"namespace/"+ns+" unchanged",
		"deployment.apps/web unchanged",
		"service/web unchanged",
		"configmap/web-config unchanged",
		"secret/web-secret unchanged",
	)

	// A change made outside the manifest survives the next apply (three-way merge).
	k.MustRun("label", "deployment", "web", "-n", ns, "owner=manual")

	v2 := write("v2.yaml", manifest(ns, true))
	out = k.MustRun("apply", "-f", v2)
	wantLines(t, out,
		"namespace/"+ns+" unchanged",
		"deployment.apps/web configured",
		"service/web unchanged",
		"configmap/web-config configured",
		"secret/web-secret unchanged",
	)
	d, err = cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d after apply, want 2", *d.Spec.Replicas)
	}
	ctrs := d.Spec.Template.Spec.Containers
	if len(ctrs) != 1 || ctrs[0].Name != "web" || ctrs[0].Image != "nginx:1.28" {
		t.Errorf("containers after apply: %+v, want only web with nginx:1.28 (sidecar removed from the manifest)", ctrs)
	}
	if d.Labels["owner"] != "manual" {
		t.Errorf("label set outside the manifest was lost: %v", d.Labels)
	}
	if d.Generation != 2 {
		t.Errorf("generation %d after one spec change, want 2", d.Generation)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["mode"] != "slow" || cm.Data["obsolete"] != "" {
		t.Errorf("configmap data %v, want mode=slow and no obsolete key", cm.Data)
	}

	// kubectl diff sees no difference to the applied manifest (exit 0), one to the old.
	if r := k.Run("diff", "-f", v2); r.ExitCode != 0 {
		t.Errorf("diff against the applied manifest:\n%s", r)
	}
	if r := k.Run("diff", "-f", v1); r.ExitCode != 1 || !strings.Contains(r.Stdout, "nginx:1.27") {
		t.Errorf("diff against the old manifest: want exit 1 and a diff naming nginx:1.27\n%s", r)
	}

	out = k.MustRun("delete", "-f", v2, "--wait=false")
	wantLines(t, out,
		`deployment.apps "web" deleted from `+ns+` namespace`,
		`service "web" deleted from `+ns+` namespace`,
	)
}
