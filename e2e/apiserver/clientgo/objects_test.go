package clientgo

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestConfigMapCRUD(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	cm, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"mode": "fast"},
		BinaryData: map[string][]byte{"blob": {0, 1, 2, 255}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["mode"] != "fast" || string(got.BinaryData["blob"]) != string([]byte{0, 1, 2, 255}) {
		t.Errorf("stored data %v binaryData %v", got.Data, got.BinaryData)
	}
	if got.UID != cm.UID {
		t.Errorf("uid changed between create and get")
	}
	got.Data["mode"] = "slow"
	up, err := cms.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Data["mode"] != "slow" {
		t.Errorf("update: data %v", up.Data)
	}
	// Creating the same name again: 409 AlreadyExists.
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonAlreadyExists)

	// An immutable configmap refuses data changes.
	frozen, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "frozen"},
		Data:       map[string]string{"k": "v"},
		Immutable:  ptr(true),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frozen.Data["k"] = "changed"
	_, err = cms.Update(ctx, frozen, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	// A delete of one object, then a deletecollection of the rest.
	if err := cms.Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = cms.Get(ctx, "settings", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatalf("deletecollection: %v", err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("after deletecollection: %v", cmNames(list))
	}
}

func TestSecretCRUD(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	secrets := cs.CoreV1().Secrets(ns)

	s, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data:       map[string][]byte{"user": []byte("admin")},
		StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("default type %q, want Opaque", s.Type)
	}
	got, err := secrets.Get(ctx, "creds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// stringData is write-only: merged into data.
	if string(got.Data["user"]) != "admin" || string(got.Data["password"]) != "s3cret" {
		t.Errorf("data %q, want user=admin password=s3cret", got.Data)
	}
	if len(got.StringData) != 0 {
		t.Errorf("stringData stored: %v", got.StringData)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tls"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A kubernetes.io/tls secret needs tls.crt and tls.key.
	_, err = secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tls-broken"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": []byte("c")},
	}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	// The type field selector.
	list, err := secrets.List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(list.Items, func(s *corev1.Secret) string { return s.Name }); strings.Join(n, ",") != "tls" {
		t.Errorf("fieldSelector type=kubernetes.io/tls: %v, want [tls]", n)
	}
	// The type is immutable.
	got.Type = corev1.SecretTypeDockerConfigJson
	_, err = secrets.Update(ctx, got, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	if err := secrets.Delete(ctx, "creds", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.Get(ctx, "creds", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func TestOptimisticConcurrency(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "occ"}, Data: map[string]string{"n": "0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := cms.Get(ctx, "occ", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := a.DeepCopy()
	a.Data["n"] = "a"
	if _, err := cms.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	b.Data["n"] = "b"
	_, err = cms.Update(ctx, b, metav1.UpdateOptions{})
	s := wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
	if !strings.Contains(s.Message, "the object has been modified") {
		t.Errorf("conflict message %q, want Kubernetes' \"...the object has been modified; please apply your changes to the latest version and try again\"", s.Message)
	}
	got, err := cms.Get(ctx, "occ", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["n"] != "a" {
		t.Errorf("stale update was applied: n=%s", got.Data["n"])
	}
	// Without a resourceVersion an update is unconditional, as for configmaps on Kubernetes.
	b.ResourceVersion = ""
	if _, err := cms.Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Errorf("unconditional update: %v", err)
	}
	// A delete with a stale resourceVersion precondition conflicts too.
	err = cms.Delete(ctx, "occ", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &a.ResourceVersion}})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
	// A uid precondition that does not match conflicts.
	wrongUID := got.UID + "x"
	err = cms.Delete(ctx, "occ", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
}

func TestGenerateName(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)
	seen := map[string]bool{}
	for range 5 {
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cm.Name, "gen-") || len(cm.Name) != len("gen-")+5 {
			t.Errorf("generated name %q, want gen- and 5 random characters", cm.Name)
		}
		if cm.GenerateName != "gen-" {
			t.Errorf("generateName %q not kept", cm.GenerateName)
		}
		if seen[cm.Name] {
			t.Errorf("generated name %q twice", cm.Name)
		}
		seen[cm.Name] = true
		if _, err := cms.Get(ctx, cm.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("get generated %s: %v", cm.Name, err)
		}
	}
	// A name and no generateName is required.
	_, err := cms.Create(ctx, &corev1.ConfigMap{}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
}

func TestFinalizers(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:       "held",
		Finalizers: []string{"e2e.drover.dev/hold"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("an object with finalizers must only be marked on delete: %v", err)
	}
	if held.DeletionTimestamp == nil {
		t.Fatal("deleted object with finalizers has no deletionTimestamp")
	}
	if g := held.DeletionGracePeriodSeconds; g == nil || *g != 0 {
		t.Errorf("deletionGracePeriodSeconds = %v, want 0", deref(g))
	}
	// A terminating object can still be updated (that is how finalizers get removed).
	held.Labels = map[string]string{"seen": "yes"}
	held, err = cms.Update(ctx, held, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update of a terminating object: %v", err)
	}
	// Removing the last finalizer removes the object.
	held.Finalizers = nil
	if _, err := cms.Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("remove finalizer: %v", err)
	}
	framework.Eventually(t, defaultWait, func() error {
		_, err := cms.Get(ctx, "held", metav1.GetOptions{})
		if err == nil {
			return errStillThere
		}
		s := apiStatus(t, err)
		if s.Code != http.StatusNotFound {
			return framework.Permanent(err)
		}
		return nil
	})
}
