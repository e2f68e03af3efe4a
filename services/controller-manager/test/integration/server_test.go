package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/controller-manager/app/options"
	cmtesting "drover.dev/controller-manager/app/testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLeaderElectionAndHealth runs two replicas: one leads, both are
// healthy, and the other takes over when the leader stops.
func TestLeaderElectionAndHealth(t *testing.T) {
	api := apitesting.StartTestServer(t, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	leader := func(o *options.Options) {
		o.LeaderElect = true
		o.LeaderElectLease, o.LeaderElectRenew, o.LeaderElectRetryPeriod = 2*time.Second, time.Second, 200*time.Millisecond
		o.Controllers = []string{"serviceaccount"}
	}
	a := cmtesting.StartTestServer(t, api.Config, leader)
	holder := func() (string, error) {
		l, err := cs.CoordinationV1().Leases("kube-system").Get(t.Context(), "drover-controller-manager", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return "", fmt.Errorf("no holder")
		}
		return *l.Spec.HolderIdentity + "/" + fmt.Sprint(l.Spec.LeaseTransitions), nil
	}
	var first string
	eventually(t, 30*time.Second, func() error {
		var err error
		first, err = holder()
		return err
	})
	b := cmtesting.StartTestServer(t, api.Config, leader)
	for _, s := range []*cmtesting.TestServer{a, b} {
		eventually(t, 30*time.Second, func() error {
			for _, path := range []string{"/healthz", "/readyz"} {
				if code, body := get(t, s.URL+path); code != 200 || body != "ok" {
					return fmt.Errorf("%s: %d %s", path, code, body)
				}
			}
			return nil
		})
	}
	// The leader works: new namespaces get their default service account.
	ns := newNamespace(t, &env{client: cs, ctx: t.Context()}, "elected")
	eventually(t, 30*time.Second, func() error {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{})
		return err
	})
	if _, body := get(t, a.URL+"/metrics"); !strings.Contains(body, "controller_sync_total") || !strings.Contains(body, "workqueue_adds_total") {
		t.Fatalf("metrics lack controller series")
	}
	a.Stop()
	eventually(t, 30*time.Second, func() error {
		h, err := holder()
		if err != nil {
			return err
		}
		if h == first {
			return fmt.Errorf("lease still %s", h)
		}
		return nil
	})
}
