package kubectl

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// twoContainers is a deployment whose pod template has two containers, so that strategic
// merge (containers merged by name) and JSON merge (lists replaced) differ visibly.
const twoContainers = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
`

func TestLabelAndAnnotate(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	wantLines(t, e.k.MustRun("create", "configmap", "tagged", "-n", e.ns, "--from-literal=a=b"), "configmap/tagged created")

	wantLines(t, e.k.MustRun("label", "configmap", "tagged", "-n", e.ns, "tier=front"), "configmap/tagged labeled")
	// Changing a value needs --overwrite.
	r := e.k.Run("label", "configmap", "tagged", "-n", e.ns, "tier=back")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "already has a value (front)") {
		t.Errorf("label without --overwrite: want exit 1 and \"already has a value (front)\"\n%s", r)
	}
	e.k.MustRun("label", "configmap", "tagged", "-n", e.ns, "tier=back", "--overwrite")
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "tagged", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["tier"] != "back" {
		t.Errorf("labels %v, want tier=back", cm.Labels)
	}
	e.k.MustRun("label", "configmap", "tagged", "-n", e.ns, "tier-")
	if cm, err = e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "tagged", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Labels["tier"]; ok {
		t.Errorf("label tier not removed: %v", cm.Labels)
	}

	wantLines(t, e.k.MustRun("annotate", "configmap", "tagged", "-n", e.ns, "note=hello world"), "configmap/tagged annotated")
	e.k.MustRun("annotate", "configmap", "tagged", "-n", e.ns, "example.com/owner=team-a")
	if cm, err = e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "tagged", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations["note"] != "hello world" || cm.Annotations["example.com/owner"] != "team-a" {
		t.Errorf("annotations %v", cm.Annotations)
	}
	e.k.MustRun("annotate", "configmap", "tagged", "-n", e.ns, "note-")
	if cm, err = e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "tagged", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Annotations["note"]; ok {
		t.Errorf("annotation note not removed: %v", cm.Annotations)
	}
	// An invalid label key is refused by the server.
	r = e.k.Run("label", "configmap", "tagged", "-n", e.ns, "bad_key/x/y=1")
	if r.ExitCode == 0 {
		t.Errorf("invalid label key accepted:\n%s", r)
	}
}

func TestPatchTypes(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	e.k.MustRunWithInput(twoContainers, "apply", "-n", e.ns, "-f", "-")

	wantLines(t, e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":3}]`),
		"deployment.apps/web patched")
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("json patch: replicas %d, want 3", *d.Spec.Replicas)
	}

	e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "--type=merge", "-p", `{"metadata":{"labels":{"merged":"yes"}}}`)
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if d.Labels["merged"] != "yes" {
		t.Errorf("merge patch: labels %v", d.Labels)
	}

	// Strategic merge (the default type) merges containers by name: both stay.
	e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.29"}]}}}}`)
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrs := d.Spec.Template.Spec.Containers
	if len(ctrs) != 2 || ctrs[0].Image != "nginx:1.29" || ctrs[1].Name != "sidecar" {
		t.Errorf("strategic merge patch: containers %+v, want web:nginx:1.29 and sidecar", ctrs)
	}
	// The same patch again changes nothing.
	wantLines(t, e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.29"}]}}}}`),
		"deployment.apps/web patched (no change)")
	// A strategic $patch: delete directive removes a list element by its key.
	e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "--type=strategic", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`)
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if ctrs = d.Spec.Template.Spec.Containers; len(ctrs) != 1 || ctrs[0].Name != "web" {
		t.Errorf("strategic $patch: delete: containers %+v, want only web", ctrs)
	}

	// A JSON merge patch replaces lists whole.
	e.k.MustRun("patch", "deployment", "web", "-n", e.ns, "--type=merge", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"nginx:1.30"}]}}}}`)
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if ctrs = d.Spec.Template.Spec.Containers; len(ctrs) != 1 || ctrs[0].Name != "only" {
		t.Errorf("merge patch of containers: %+v, want only the container \"only\"", ctrs)
	}

	// A patch that makes the object invalid is refused with the invalid-object message.
	r := e.k.Run("patch", "deployment", "web", "-n", e.ns, "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":-1}]`)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `The Deployment "web" is invalid: spec.replicas`) {
		t.Errorf("invalid patch: want exit 1 and `The Deployment \"web\" is invalid: spec.replicas...`\n%s", r)
	}
	// A JSON patch whose test fails is refused.
	r = e.k.Run("patch", "deployment", "web", "-n", e.ns, "--type=json", "-p", `[{"op":"test","path":"/spec/replicas","value":42}]`)
	if r.ExitCode != 1 {
		t.Errorf("failing json patch test op: want exit 1\n%s", r)
	}
	// Patching a missing object.
	r = e.k.Run("patch", "deployment", "nope", "-n", e.ns, "--type=merge", "-p", `{"metadata":{"labels":{"a":"b"}}}`)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `Error from server (NotFound): deployments.apps "nope" not found`) {
		t.Errorf("patch of a missing deployment:\n%s", r)
	}
}

func TestScaleAndSetImage(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	e.k.MustRunWithInput(twoContainers, "apply", "-n", e.ns, "-f", "-")

	wantLines(t, e.k.MustRun("scale", "deployment", "web", "-n", e.ns, "--replicas=4"), "deployment.apps/web scaled")
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 4 {
		t.Errorf("after scale: replicas %d, want 4", *d.Spec.Replicas)
	}
	// --current-replicas is a precondition.
	r := e.k.Run("scale", "deployment", "web", "-n", e.ns, "--replicas=5", "--current-replicas=3")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "Expected replicas to be 3, was 4") {
		t.Errorf("scale with a wrong --current-replicas:\n%s", r)
	}
	e.k.MustRun("scale", "deploy/web", "-n", e.ns, "--replicas=0", "--current-replicas=4")
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 0 {
		t.Errorf("after scale to 0: replicas %d", *d.Spec.Replicas)
	}

	wantLines(t, e.k.MustRun("set", "image", "deployment/web", "-n", e.ns, "web=nginx:1.29", "sidecar=busybox:1.37"), "deployment.apps/web image updated")
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrs := d.Spec.Template.Spec.Containers
	if len(ctrs) != 2 || ctrs[0].Image != "nginx:1.29" || ctrs[1].Image != "busybox:1.37" {
		t.Errorf("after set image: %+v", ctrs)
	}
	r = e.k.Run("set", "image", "deployment/web", "-n", e.ns, "nosuch=nginx")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `unable to find container named "nosuch"`) {
		t.Errorf("set image of a missing container:\n%s", r)
	}
}

func TestDeleteBySelector(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	var manifest strings.Builder
	for i, group := range []string{"g", "g", "g", "other"} {
		fmt.Fprintf(&manifest, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  labels:\n    group: %s\n", i, group)
	}
	e.k.MustRunWithInput(manifest.String(), "apply", "-n", e.ns, "-f", "-")

	out := e.k.MustRun("delete", "configmap", "-n", e.ns, "-l", "group=g")
	wantLines(t, out,
		`configmap "cm-0" deleted from `+e.ns+` namespace`,
		`configmap "cm-1" deleted from `+e.ns+` namespace`,
		`configmap "cm-2" deleted from `+e.ns+` namespace`,
	)
	if strings.Contains(out, "cm-3") {
		t.Errorf("delete -l group=g deleted cm-3:\n%s", out)
	}
	left, err := e.cs.CoreV1().ConfigMaps(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "group"})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 1 || left.Items[0].Name != "cm-3" {
		t.Errorf("left after delete -l: %d items", len(left.Items))
	}
	r := e.k.Run("delete", "configmap", "-n", e.ns, "-l", "group=g")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout+r.Stderr, "No resources found") {
		t.Errorf("delete -l with no match:\n%s", r)
	}
}

func TestCreateSecretGeneric(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	file := e.k.Dir() + "/token.txt"
	if err := writeFile(file, "tok-123"); err != nil {
		t.Fatal(err)
	}
	out := e.k.MustRun("create", "secret", "generic", "creds", "-n", e.ns,
		"--from-literal=user=admin", "--from-literal=password=p@ss w0rd", "--from-file=token="+file)
	wantLines(t, out, "secret/creds created")
	s, err := e.cs.CoreV1().Secrets(e.ns).Get(ctx, "creds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["user"]) != "admin" || string(s.Data["password"]) != "p@ss w0rd" || string(s.Data["token"]) != "tok-123" || s.Type != "Opaque" {
		t.Errorf("secret type %q data %q", s.Type, s.Data)
	}
	// Decoding with jsonpath, as users do.
	if got := e.k.MustRun("get", "secret", "creds", "-n", e.ns, "-o", "jsonpath={.data.user}"); got != "YWRtaW4=" {
		t.Errorf("jsonpath .data.user %q, want base64 of admin", got)
	}
	// Again: AlreadyExists (kubectl create secret words it so).
	r := e.k.Run("create", "secret", "generic", "creds", "-n", e.ns, "--from-literal=a=b")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `error: failed to create secret secrets "creds" already exists`) {
		t.Errorf("create existing secret:\n%s", r)
	}
	// Server-side dry run: validated and returned, not stored.
	out = e.k.MustRun("create", "secret", "generic", "dry", "-n", e.ns, "--from-literal=a=b", "--dry-run=server", "-o", "name")
	wantLines(t, out, "secret/dry")
	if _, err := e.cs.CoreV1().Secrets(e.ns).Get(ctx, "dry", metav1.GetOptions{}); err == nil {
		t.Error("a server-side dry run stored the secret")
	}
	// A tls secret from files.
	crt, key := e.k.Dir()+"/tls.crt", e.k.Dir()+"/tls.key"
	certPEM, keyPEM := selfSignedCert(t)
	if err := writeFile(crt, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(key, keyPEM); err != nil {
		t.Fatal(err)
	}
	wantLines(t, e.k.MustRun("create", "secret", "tls", "web-tls", "-n", e.ns, "--cert="+crt, "--key="+key), "secret/web-tls created")
	if s, err = e.cs.CoreV1().Secrets(e.ns).Get(ctx, "web-tls", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if s.Type != "kubernetes.io/tls" || len(s.Data["tls.crt"]) == 0 {
		t.Errorf("tls secret: type %q keys %d", s.Type, len(s.Data))
	}
}

func TestGetWatchSeesChange(t *testing.T) {
	e := setup(t)
	e.k.MustRun("create", "configmap", "watched", "-n", e.ns, "--from-literal=a=1")
	w := e.k.Start("get", "configmap", "watched", "-n", e.ns, "-w")
	fields := func(line string) []string { return strings.Fields(line) }
	w.WaitForLine(t, defaultWait, func(l string) bool {
		f := fields(l)
		return len(f) >= 2 && f[0] == "watched" && f[1] == "1"
	})
	e.k.MustRun("patch", "configmap", "watched", "-n", e.ns, "--type=merge", "-p", `{"data":{"b":"2"}}`)
	w.WaitForLine(t, defaultWait, func(l string) bool {
		f := fields(l)
		return len(f) >= 2 && f[0] == "watched" && f[1] == "2"
	})
	// With --output-watch-events the listed objects come as ADDED, then the changes.
	ev := e.k.Start("get", "configmap", "watched", "-n", e.ns, "-w", "--output-watch-events")
	ev.WaitForLine(t, defaultWait, func(l string) bool {
		f := fields(l)
		return len(f) >= 2 && f[0] == "ADDED" && f[1] == "watched"
	})
	e.k.MustRun("label", "configmap", "watched", "-n", e.ns, "poke=1")
	ev.WaitForLine(t, defaultWait, func(l string) bool {
		f := fields(l)
		return len(f) >= 2 && f[0] == "MODIFIED" && f[1] == "watched"
	})
	e.k.MustRun("delete", "configmap", "watched", "-n", e.ns)
	ev.WaitForLine(t, defaultWait, func(l string) bool {
		f := fields(l)
		return len(f) >= 2 && f[0] == "DELETED" && f[1] == "watched"
	})
}

func TestEdit(t *testing.T) {
	e := setup(t)
	ctx := ctxFor(t)
	e.k.MustRunWithInput(twoContainers, "apply", "-n", e.ns, "-f", "-")
	// kubectl runs $KUBE_EDITOR on a temp file with the object; sed plays the user.
	edit := e.k.WithEnv("KUBE_EDITOR=sed -i -e s/nginx:1.27/nginx:1.28/ -e s/replicas:\\ 1/replicas:\\ 2/")
	wantLines(t, edit.MustRun("edit", "deployment", "web", "-n", e.ns), "deployment.apps/web edited")
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Spec.Containers[0].Image != "nginx:1.28" || *d.Spec.Replicas != 2 || len(d.Spec.Template.Spec.Containers) != 2 {
		t.Errorf("after edit: replicas %d containers %+v", *d.Spec.Replicas, d.Spec.Template.Spec.Containers)
	}
	// An edit that makes the object invalid is refused and reported.
	bad := e.k.WithEnv("KUBE_EDITOR=sed -i -e s/replicas:\\ 2/replicas:\\ -3/")
	r := bad.Run("edit", "deployment", "web", "-n", e.ns)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `error: deployments.apps "web" is invalid`) {
		t.Errorf("invalid edit: want exit 1 and `deployments.apps \"web\" is invalid`\n%s", r)
	}
	if d, err = e.cs.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("after the refused edit: %v %v, want replicas still 2", d.Spec.Replicas, err)
	}
}

// TestScaleEveryScalable scales each kind with a scale subresource through kubectl.
func TestScaleEveryScalable(t *testing.T) {
	e := setup(t)
	var manifest strings.Builder
	for _, name := range []string{"deploy", "rs", "sts", "rc"} {
		for i, k := range kinds {
			if k.name == name {
				fmt.Fprintf(&manifest, "---\n%s\n", strings.Replace(kinds[i].manifest, "NAME", name, 1))
			}
		}
	}
	e.k.MustRunWithInput(manifest.String(), "apply", "-n", e.ns, "-f", "-")
	for _, tt := range []struct{ target, printed string }{
		{"deployment/deploy", "deployment.apps/deploy"},
		{"replicaset/rs", "replicaset.apps/rs"},
		{"statefulset/sts", "statefulset.apps/sts"},
		{"replicationcontroller/rc", "replicationcontroller/rc"},
	} {
		t.Run(tt.target, func(t *testing.T) {
			k := e.k.For(t)
			wantLines(t, k.MustRun("scale", tt.target, "-n", e.ns, "--replicas=3"), tt.printed+" scaled")
			if got := k.MustRun("get", tt.target, "-n", e.ns, "-o", "jsonpath={.spec.replicas}"); got != "3" {
				t.Errorf("spec.replicas %q after scale, want 3", got)
			}
			if got := k.MustRun("get", "--raw", rawScalePath(e.ns, tt.target)); !strings.Contains(got, `"replicas":3`) {
				t.Errorf("scale subresource: %s", got)
			}
		})
	}
}

func rawScalePath(ns, target string) string {
	kind, name, _ := strings.Cut(target, "/")
	switch kind {
	case "replicationcontroller":
		return "/api/v1/namespaces/" + ns + "/replicationcontrollers/" + name + "/scale"
	default:
		return "/apis/apps/v1/namespaces/" + ns + "/" + kind + "s/" + name + "/scale"
	}
}
