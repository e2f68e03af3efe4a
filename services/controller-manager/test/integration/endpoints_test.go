package integration

import (
	"fmt"
	"sort"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"drover.dev/controller-manager/app/options"
	"drover.dev/libs/hollow"
)

func TestEndpointsAndSlices(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) {
		o.Controllers = []string{"replicaset", "endpoints", "endpointslice", "garbagecollector"}
		o.MaxEndpointsPerSlice = 2
	}, func(o *hollow.Options) {
		o.NotReady = func(p *v1.Pod) bool { return p.Labels["ready"] == "no" }
	})
	ns := newNamespace(t, e, "svc")
	mkRS := func(name string, n int32, labels map[string]string) {
		t.Helper()
		rs := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: apps.ReplicaSetSpec{Replicas: ptr(n), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels, "nginx")}}
		if _, err := e.client.AppsV1().ReplicaSets(ns).Create(e.ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkRS("ready", 3, map[string]string{"app": "web", "ready": "yes"})
	mkRS("unready", 2, map[string]string{"app": "web", "ready": "no"})
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []v1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9000, TargetPort: intstr.FromInt32(9090)},
		}}}
	if _, err := e.client.CoreV1().Services(ns).Create(e.ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() error {
		ep, err := e.client.CoreV1().Endpoints(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 3 || len(ep.Subsets[0].NotReadyAddresses) != 2 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		ports := map[string]int32{}
		for _, p := range ep.Subsets[0].Ports {
			ports[p.Name] = p.Port
		}
		if ports["http"] != 8080 || ports["metrics"] != 9090 {
			return fmt.Errorf("ports %v", ports)
		}
		return nil
	})
	checkSlices := func(wantReady, wantNotReady int) {
		t.Helper()
		eventually(t, 60*time.Second, func() error {
			l, err := e.client.DiscoveryV1().EndpointSlices(ns).List(e.ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=web"})
			if err != nil {
				return err
			}
			ready, notReady, total := 0, 0, 0
			var sizes []int
			for _, s := range l.Items {
				if s.Labels[discovery.LabelManagedBy] != "endpointslice-controller.k8s.io" || s.Labels["tier"] != "front" {
					return fmt.Errorf("labels %v", s.Labels)
				}
				if len(s.Endpoints) > 2 {
					return fmt.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
				}
				sizes = append(sizes, len(s.Endpoints))
				for _, ep := range s.Endpoints {
					total++
					if *ep.Conditions.Ready {
						ready++
					} else {
						notReady++
					}
				}
			}
			if ready != wantReady || notReady != wantNotReady {
				return fmt.Errorf("%d ready, %d not ready in slices %v", ready, notReady, sizes)
			}
			sort.Ints(sizes)
			if len(sizes) != (total+1)/2 {
				return fmt.Errorf("slices %v for %d endpoints", sizes, total)
			}
			return nil
		})
	}
	checkSlices(3, 2)

	// publishNotReadyAddresses makes every address ready.
	s, err := e.client.CoreV1().Services(ns).Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.PublishNotReadyAddresses = true
	if _, err := e.client.CoreV1().Services(ns).Update(e.ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		ep, err := e.client.CoreV1().Endpoints(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 5 || len(ep.Subsets[0].NotReadyAddresses) != 0 {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		return nil
	})
	checkSlices(5, 0)

	// A terminating pod (held by a finalizer) is serving but not ready.
	hold := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "held", Labels: map[string]string{"app": "headless"}, Finalizers: []string{"test.drover.dev/hold"}},
		Spec: v1.PodSpec{Hostname: "h0", Subdomain: "hl", Containers: []v1.Container{{Name: "c", Image: "nginx"}}}}
	if _, err := e.client.CoreV1().Pods(ns).Create(e.ctx, hold, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hl := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hl"},
		Spec: v1.ServiceSpec{ClusterIP: v1.ClusterIPNone, Selector: map[string]string{"app": "headless"}}}
	if _, err := e.client.CoreV1().Services(ns).Create(e.ctx, hl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hlSlice := func(check func(discovery.Endpoint) error) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			l, err := e.client.DiscoveryV1().EndpointSlices(ns).List(e.ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=hl"})
			if err != nil {
				return err
			}
			if len(l.Items) != 1 || len(l.Items[0].Endpoints) != 1 {
				return fmt.Errorf("slices %+v", l.Items)
			}
			if _, ok := l.Items[0].Labels["service.kubernetes.io/headless"]; !ok {
				return fmt.Errorf("no headless label: %v", l.Items[0].Labels)
			}
			return check(l.Items[0].Endpoints[0])
		})
	}
	hlSlice(func(ep discovery.Endpoint) error {
		if ep.Hostname == nil || *ep.Hostname != "h0" || !*ep.Conditions.Ready {
			return fmt.Errorf("endpoint %+v", ep)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		ep, err := e.client.CoreV1().Endpoints(ns).Get(e.ctx, "hl", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].Hostname != "h0" {
			return fmt.Errorf("subsets %+v", ep.Subsets)
		}
		return nil
	})
	if err := e.client.CoreV1().Pods(ns).Delete(e.ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	hlSlice(func(ep discovery.Endpoint) error {
		if *ep.Conditions.Ready || !*ep.Conditions.Serving || !*ep.Conditions.Terminating {
			return fmt.Errorf("conditions %+v", ep.Conditions)
		}
		return nil
	})
	p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Finalizers = nil
	if _, err := e.client.CoreV1().Pods(ns).Update(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Deleting the service removes its Endpoints and (through the GC) slices.
	if err := e.client.CoreV1().Services(ns).Delete(e.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		_, err := e.client.CoreV1().Endpoints(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if gone(err) != nil {
			return fmt.Errorf("endpoints: %v", gone(err))
		}
		l, err := e.client.DiscoveryV1().EndpointSlices(ns).List(e.ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=web"})
		if err != nil || len(l.Items) != 0 {
			return fmt.Errorf("slices left: %v", err)
		}
		return nil
	})
}
