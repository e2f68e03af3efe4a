package pods

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"drover.dev/kubelet/internal/runtime"
)

// envSource reads the objects env vars may refer to.
type envSource struct {
	client kubernetes.Interface
	pod    *v1.Pod
	hostIP string
	podIP  string
	// services supplies the service-link variables (nil: none).
	services []*v1.Service
}

// commandFor resolves a container's command line as Kubernetes does: the
// pod's command replaces the image's entrypoint (and drops its cmd); args
// replace cmd; $(VAR) references expand from env.
func commandFor(c *v1.Container, img *runtime.Image, env map[string]string) []string {
	var cmd []string
	switch {
	case len(c.Command) > 0:
		cmd = append(cmd, c.Command...)
		cmd = append(cmd, c.Args...)
	case len(c.Args) > 0:
		cmd = append(cmd, img.Entrypoint...)
		cmd = append(cmd, c.Args...)
	default:
		cmd = append(cmd, img.Entrypoint...)
		cmd = append(cmd, img.Cmd...)
		return cmd // the image's own words are not expanded
	}
	for i := range cmd {
		cmd[i] = expand(cmd[i], env)
	}
	return cmd
}

// expand replaces $(NAME) with env's value; $$ escapes $; unknown names
// stay as written, as Kubernetes does.
func expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envFor builds the container's environment: image env, service links,
// envFrom, then env (later entries win), returned as KEY=value in a stable
// order plus the map used for $(VAR) expansion.
func (s *envSource) envFor(ctx context.Context, c *v1.Container, img *runtime.Image) ([]string, map[string]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, svc := range s.services {
		for k, v := range serviceEnv(svc) {
			set(k, v)
		}
	}
	for _, from := range c.EnvFrom {
		data, err := s.envFromData(ctx, from)
		if err != nil {
			return nil, nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vals))
			continue
		}
		v, ok, err := s.valueFrom(ctx, c, e.ValueFrom)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, vals, nil
}

func (s *envSource) envFromData(ctx context.Context, from v1.EnvFromSource) (map[string]string, error) {
	ns := s.pod.Namespace
	switch {
	case from.ConfigMapRef != nil:
		cm, err := s.client.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			if optional(from.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		sec, err := s.client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			if optional(from.SecretRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
		}
		out := make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

func optional(b *bool) bool { return b != nil && *b }

// valueFrom resolves one env var source; ok false means an optional
// reference that is absent (the variable is then not set).
func (s *envSource) valueFrom(ctx context.Context, c *v1.Container, src *v1.EnvVarSource) (string, bool, error) {
	ns := s.pod.Namespace
	switch {
	case src.FieldRef != nil:
		v, err := s.fieldValue(src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := resourceValue(c, src.ResourceFieldRef)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := s.client.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q: %w", ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		sec, err := s.client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q: %w", ref.Name, err)
		}
		if v, ok := sec.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// fieldValue is the downward API for env vars.
func (s *envSource) fieldValue(path string) (string, error) {
	p := s.pod
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return s.hostIP, nil
	case "status.podIP", "status.podIPs":
		return s.podIP, nil
	}
	for _, m := range []struct {
		prefix string
		vals   map[string]string
	}{{"metadata.labels['", p.Labels}, {"metadata.annotations['", p.Annotations}} {
		if strings.HasPrefix(path, m.prefix) && strings.HasSuffix(path, "']") {
			return m.vals[strings.TrimSuffix(strings.TrimPrefix(path, m.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// resourceValue is the downward API for resources: the limit (or, absent,
// the node's allocatable is not known here so the request) divided by the
// divisor, rounded up, as Kubernetes does.
func resourceValue(c *v1.Container, ref *v1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		return "", fmt.Errorf("resourceFieldRef for another container is not supported")
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	var q resource.Quantity
	switch kind {
	case "limits":
		q = c.Resources.Limits[v1.ResourceName(name)]
	case "requests":
		q = c.Resources.Requests[v1.ResourceName(name)]
	default:
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if name == "cpu" {
		m := q.MilliValue()
		d := div.MilliValue()
		return strconv.FormatInt((m+d-1)/d, 10), nil
	}
	v, d := q.Value(), div.Value()
	return strconv.FormatInt((v+d-1)/d, 10), nil
}

// serviceEnv is the Docker-links style variables of a Service.
func serviceEnv(svc *v1.Service) map[string]string {
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return nil
	}
	name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
	ip := svc.Spec.ClusterIP
	first := svc.Spec.Ports[0]
	out := map[string]string{
		name + "_SERVICE_HOST": ip,
		name + "_SERVICE_PORT": strconv.Itoa(int(first.Port)),
		name + "_PORT":         fmt.Sprintf("%s://%s:%d", strings.ToLower(string(first.Protocol)), ip, first.Port),
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			out[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
		}
		proto := strings.ToUpper(string(p.Protocol))
		prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
		out[prefix] = fmt.Sprintf("%s://%s:%d", strings.ToLower(proto), ip, p.Port)
		out[prefix+"_PROTO"] = strings.ToLower(proto)
		out[prefix+"_PORT"] = strconv.Itoa(int(p.Port))
		out[prefix+"_ADDR"] = ip
	}
	return out
}
