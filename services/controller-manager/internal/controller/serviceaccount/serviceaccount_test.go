package serviceaccount

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSync(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name string
		ns   *v1.Namespace
		sa   *v1.ServiceAccount
		want bool
	}{
		{"creates default", &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, nil, true},
		{"keeps existing", &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "a"}}, false},
		{"skips terminating", &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &now}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.ns)
			f := informers.NewSharedInformerFactory(client, 0)
			c := New(client, f.Core().V1().Namespaces(), f.Core().V1().ServiceAccounts(), nil)
			_ = f.Core().V1().Namespaces().Informer().GetIndexer().Add(tt.ns)
			if tt.sa != nil {
				_ = f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(tt.sa)
			}
			if err := c.sync(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			created := false
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
					created = true
				}
			}
			if created != tt.want {
				t.Fatalf("created=%v, want %v", created, tt.want)
			}
		})
	}
}
