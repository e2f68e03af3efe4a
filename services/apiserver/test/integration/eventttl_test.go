package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"drover.dev/apiserver/app/options"
	apiservertesting "drover.dev/apiserver/app/testing"
)

// Events expire --event-ttl after their last write, whichever API group
// wrote them, as in Kubernetes; other objects stay.
func TestEventTTL(t *testing.T) {
	ts := apiservertesting.StartTestServer(t, "", func(o *options.Options) {
		o.EventTTL = 3 * time.Second
		o.LeaseReuseDurationSeconds = 1
	})
	cs, err := kubernetes.NewForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{ts.EtcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	ctx := context.Background()
	now := metav1.NowMicro()
	core, err := cs.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "core"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason:         "Tested", Message: "m", Type: corev1.EventTypeNormal,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.EventsV1().Events("default").Create(ctx, &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "new-api"},
		EventTime:  now, Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason: "Tested", Action: "Testing", Note: "n", Type: corev1.EventTypeNormal,
		ReportingController: "drover.dev/test", ReportingInstance: "test",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, testPod("kept"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"/registry/events/default/core", "/registry/events/default/new-api"} {
		resp, err := etcd.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
			t.Fatalf("%s in etcd: %v %v, want it stored with a lease", key, err, resp.Kvs)
		}
	}
	if resp, err := etcd.Get(ctx, "/registry/pods/default/kept"); err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease != 0 {
		t.Fatalf("pod in etcd: %v %v, want it stored without a lease", err, resp.Kvs)
	}

	// An update (a repeated event's count) takes a fresh lease too.
	core.Count = 2
	if _, err := cs.CoreV1().Events("default").Update(ctx, core, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		for _, name := range []string{"core", "new-api"} {
			_, err := cs.CoreV1().Events("default").Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				return fmt.Errorf("event %s still there", name)
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod gone with the events: %v", err)
	}
}
