package endpoints

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podLogGVK names PodLogOptions in validation errors.
var podLogGVK = schema.GroupKind{Kind: "PodLogOptions"}

// podLog streams a container's log from the kubelet of the pod's node
// (GET pods/<name>/log), as kube-apiserver's log REST does.
func (a *API) podLog(q *request) {
	kv, err := a.cfg.Store.Get(q.ctx, q.key(q.info.Name))
	if err != nil {
		writeStatus(q.w, q.r, storageError(q, q.info.Name, err))
		return
	}
	obj, err := a.decodeStored(q.res, kv.Value, kv.ModRevision)
	if err != nil {
		writeStatus(q.w, q.r, apierrors.NewInternalError(err))
		return
	}
	pod := obj.(*corev1.Pod)
	query, err := logQuery(q.r.URL.Query())
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	container, err := logContainer(pod, q.r.URL.Query().Get("container"))
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if pod.Spec.NodeName == "" {
		writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	host, err := a.kubeletHost(q, pod.Spec.NodeName)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if a.cfg.Kubelets == nil {
		writeStatus(q.w, q.r, apierrors.NewServiceUnavailable("the apiserver has no kubelet client"))
		return
	}
	u := url.URL{Scheme: "https", Host: host, Path: "/containerLogs/" + pod.Namespace + "/" + pod.Name + "/" + container, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(q.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		writeStatus(q.w, q.r, apierrors.NewInternalError(err))
		return
	}
	resp, err := a.cfg.Kubelets.Do(req)
	if err != nil {
		writeStatus(q.w, q.r, apierrors.NewServiceUnavailable(fmt.Sprintf("cannot reach the kubelet of node %s: %v", pod.Spec.NodeName, err)))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		q.w.Header().Set("Content-Type", ct)
	}
	q.w.WriteHeader(resp.StatusCode)
	flusher, _ := q.w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := q.w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if err != io.EOF {
				a.lg.Debug("log stream ended")
			}
			return
		}
	}
}

// logQuery validates PodLogOptions and returns the kubelet's query.
func logQuery(in url.Values) (url.Values, error) {
	out := url.Values{}
	var errs field.ErrorList
	for _, name := range []string{"follow", "previous", "timestamps"} {
		if v := in.Get(name); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				errs = append(errs, field.Invalid(field.NewPath(name), v, "must be a boolean"))
				continue
			}
			out.Set(name, v)
		}
	}
	for _, name := range []string{"sinceSeconds", "tailLines", "limitBytes"} {
		v := in.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(field.NewPath(name), v, "must be an integer"))
		case name == "tailLines" && n < 0:
			errs = append(errs, field.Invalid(field.NewPath(name), n, "must be greater than or equal to 0"))
		case name != "tailLines" && n < 1:
			errs = append(errs, field.Invalid(field.NewPath(name), n, "must be greater than 0"))
		default:
			out.Set(name, v)
		}
	}
	if v := in.Get("sinceTime"); v != "" {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("sinceTime"), v, "must be an RFC3339 time"))
		} else {
			out.Set("sinceTime", v)
		}
	}
	if out.Has("sinceSeconds") && out.Has("sinceTime") {
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(podLogGVK, "", errs)
	}
	return out, nil
}

// logContainer picks the container: the named one, or the only one.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		inits = append(inits, c.Name)
	}
	if name == "" {
		if len(names) == 1 && len(inits) == 0 {
			return names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		if len(inits) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, n := range append(names, inits...) {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// kubeletHost is the node's InternalIP (else any address) and kubelet port.
func (a *API) kubeletHost(q *request, nodeName string) (string, error) {
	nodeRes, _ := a.cfg.Registry.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	kv, err := a.cfg.Store.Get(q.ctx, a.cfg.Store.Key("nodes", "", nodeName))
	if err != nil {
		return "", apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, nodeName)
	}
	obj, err := a.decodeStored(nodeRes, kv.Value, kv.ModRevision)
	if err != nil {
		return "", apierrors.NewInternalError(err)
	}
	node := obj.(*corev1.Node)
	addr := ""
	for _, typ := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, na := range node.Status.Addresses {
			if na.Type == typ && addr == "" {
				addr = na.Address
			}
		}
	}
	if addr == "" {
		return "", apierrors.NewBadRequest(fmt.Sprintf("node %s has no address", nodeName))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 {
		port = 10250
	}
	return net.JoinHostPort(addr, strconv.Itoa(int(port))), nil
}
