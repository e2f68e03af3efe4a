package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"drover.dev/apiserver/internal/endpoints"
)

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrap creates the system namespaces and the kubernetes Service and
// Endpoints through the API itself, so they get the same defaults,
// validation and allocation as any object. Existing objects are left alone.
func bootstrap(ctx context.Context, api *endpoints.API, serviceIP, advertise string, port int, lg *zap.Logger) {
	for _, ns := range systemNamespaces {
		create(ctx, api, "/api/v1/namespaces", &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ns},
		}, lg)
	}
	// The system priority classes every Kubernetes cluster has.
	for name, value := range map[string]int32{"system-cluster-critical": 2000000000, "system-node-critical": 2000001000} {
		create(ctx, api, "/apis/scheduling.k8s.io/v1/priorityclasses", &schedulingv1.PriorityClass{
			TypeMeta:    metav1.TypeMeta{APIVersion: "scheduling.k8s.io/v1", Kind: "PriorityClass"},
			ObjectMeta:  metav1.ObjectMeta{Name: name},
			Value:       value,
			Description: "Used for system critical pods that must not be moved from their current node.",
		}, lg)
	}
	labels := map[string]string{"component": "apiserver", "provider": "kubernetes"}
	create(ctx, api, "/api/v1/namespaces/default/services", &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: serviceIP,
			Ports:     []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(port))}},
		},
	}, lg)
	if ip := net.ParseIP(advertise); ip == nil || ip.IsLoopback() {
		// Endpoints may not point at loopback; in a single-machine cluster
		// bound to 127.0.0.1 there is no address pods could use yet.
		lg.Info("not publishing kubernetes endpoints for a loopback address", zap.String("address", advertise))
		return
	}
	create(ctx, api, "/api/v1/namespaces/default/endpoints", &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: advertise}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}, lg)
}

// create posts obj through the API unless it exists (another replica may
// have made it), retrying while etcd or the cache warm up.
func create(ctx context.Context, api *endpoints.API, path string, obj metav1.Object, lg *zap.Logger) {
	body, err := json.Marshal(obj)
	if err != nil {
		lg.Error("encoding bootstrap object", zap.Error(err))
		return
	}
	for attempt := 0; attempt < 30 && ctx.Err() == nil; attempt++ {
		get := httptest.NewRequestWithContext(ctx, http.MethodGet, path+"/"+obj.GetName(), nil)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, get)
		if rec.Code == http.StatusOK {
			return
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec = httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated, http.StatusConflict:
			return
		}
		lg.Warn("bootstrap create failed, retrying", zap.String("path", path), zap.Int("code", rec.Code), zap.String("body", rec.Body.String()))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
