// Package fieldlabels knows which fields each resource supports in field
// selectors and extracts them cheaply from stored JSON, without decoding the
// whole object, so the cache can filter thousands of objects per list.
package fieldlabels

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Meta is what every stored object yields: identity, labels and field labels.
type Meta struct {
	UID       string
	Name      string
	Namespace string
	Labels    labels.Set
	Fields    Values
}

// Values are an object's field-label values in the order of its resource's
// names; the names are shared, so thousands of cached objects cost one
// small slice each instead of a map each.
type Values struct {
	names  []string
	values []string
}

var _ fields.Fields = Values{}

// Has reports whether the field is one of the resource's field labels.
func (v Values) Has(field string) bool {
	return slices.Contains(v.names, field)
}

// Get returns the field's value ("" when absent).
func (v Values) Get(field string) string {
	if i := slices.Index(v.names, field); i >= 0 {
		return v.values[i]
	}
	return ""
}

// Set returns the values as a map (for tests and debugging).
func (v Values) Set() fields.Set {
	out := fields.Set{}
	for i, n := range v.names {
		out[n] = v.values[i]
	}
	return out
}

// names per resource: metadata.name, metadata.namespace, then Supported.
var resourceNames = map[string][]string{}

func namesOf(resource string) []string {
	if n, ok := resourceNames[resource]; ok {
		return n
	}
	return baseNames
}

var baseNames = []string{"metadata.name", "metadata.namespace"}

func init() {
	for res, extra := range Supported {
		resourceNames[res] = append(append([]string{}, baseNames...), extra...)
	}
}

type objectMeta struct {
	UID       string            `json:"uid"`
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type podFields struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		NodeName           string `json:"nodeName"`
		RestartPolicy      string `json:"restartPolicy"`
		SchedulerName      string `json:"schedulerName"`
		ServiceAccountName string `json:"serviceAccountName"`
		HostNetwork        bool   `json:"hostNetwork"`
	} `json:"spec"`
	Status struct {
		Phase             string                `json:"phase"`
		PodIP             string                `json:"podIP"`
		PodIPs            []struct{ IP string } `json:"podIPs"`
		NominatedNodeName string                `json:"nominatedNodeName"`
	} `json:"status"`
}

type nodeFields struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Unschedulable bool `json:"unschedulable"`
	} `json:"spec"`
}

type phaseFields struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

type typeFields struct {
	Metadata objectMeta `json:"metadata"`
	Type     string     `json:"type"`
}

type eventFields struct {
	Metadata       objectMeta `json:"metadata"`
	InvolvedObject struct {
		Kind            string `json:"kind"`
		Namespace       string `json:"namespace"`
		Name            string `json:"name"`
		UID             string `json:"uid"`
		APIVersion      string `json:"apiVersion"`
		ResourceVersion string `json:"resourceVersion"`
		FieldPath       string `json:"fieldPath"`
	} `json:"involvedObject"`
	Reason             string `json:"reason"`
	ReportingComponent string `json:"reportingComponent"`
	Source             struct {
		Component string `json:"component"`
	} `json:"source"`
	Type string `json:"type"`
}

type replicasFields struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Replicas int32 `json:"replicas"`
	} `json:"status"`
}

type jobFields struct {
	Metadata objectMeta `json:"metadata"`
	Status   struct {
		Succeeded int32 `json:"succeeded"`
	} `json:"status"`
}

type metaOnly struct {
	Metadata objectMeta `json:"metadata"`
}

// Supported lists the field-selector fields of a storage resource beyond
// metadata.name and metadata.namespace.
var Supported = map[string][]string{
	"pods":                   {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
	"nodes":                  {"spec.unschedulable"},
	"namespaces":             {"status.phase"},
	"secrets":                {"type"},
	"events":                 {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"},
	"replicasets":            {"status.replicas"},
	"replicationcontrollers": {"status.replicas"},
	"jobs":                   {"status.successful"},
}

// Aliases maps field names a group uses for a shared storage resource (events.k8s.io)
// to the stored names.
var Aliases = map[string]map[string]string{
	"events.k8s.io": {
		"regarding.kind": "involvedObject.kind", "regarding.namespace": "involvedObject.namespace",
		"regarding.name": "involvedObject.name", "regarding.uid": "involvedObject.uid",
		"regarding.apiVersion": "involvedObject.apiVersion", "regarding.resourceVersion": "involvedObject.resourceVersion",
		"regarding.fieldPath": "involvedObject.fieldPath", "reportingController": "reportingComponent",
		"deprecatedSource": "source",
	},
}

// Check reports whether field can be used in a selector on resource.
func Check(resource, field string) bool {
	if field == "metadata.name" || field == "metadata.namespace" {
		return true
	}
	for _, f := range Supported[resource] {
		if f == field {
			return true
		}
	}
	return false
}

// Extract reads identity, labels and field labels of a stored object.
func Extract(resource string, raw []byte) (Meta, error) {
	var m objectMeta
	f := fields.Set{}
	switch resource {
	case "pods":
		var p podFields
		if err := json.Unmarshal(raw, &p); err != nil {
			return Meta{}, err
		}
		m = p.Metadata
		f["spec.nodeName"] = p.Spec.NodeName
		f["spec.restartPolicy"] = p.Spec.RestartPolicy
		f["spec.schedulerName"] = p.Spec.SchedulerName
		f["spec.serviceAccountName"] = p.Spec.ServiceAccountName
		f["spec.hostNetwork"] = strconv.FormatBool(p.Spec.HostNetwork)
		f["status.phase"] = p.Status.Phase
		f["status.podIP"] = p.Status.PodIP
		ips := make([]string, len(p.Status.PodIPs))
		for i, ip := range p.Status.PodIPs {
			ips[i] = ip.IP
		}
		f["status.podIPs"] = strings.Join(ips, ",")
		f["status.nominatedNodeName"] = p.Status.NominatedNodeName
	case "nodes":
		var n nodeFields
		if err := json.Unmarshal(raw, &n); err != nil {
			return Meta{}, err
		}
		m = n.Metadata
		f["spec.unschedulable"] = strconv.FormatBool(n.Spec.Unschedulable)
	case "namespaces":
		var n phaseFields
		if err := json.Unmarshal(raw, &n); err != nil {
			return Meta{}, err
		}
		m = n.Metadata
		f["status.phase"] = n.Status.Phase
	case "secrets":
		var s typeFields
		if err := json.Unmarshal(raw, &s); err != nil {
			return Meta{}, err
		}
		m = s.Metadata
		f["type"] = s.Type
	case "events":
		var e eventFields
		if err := json.Unmarshal(raw, &e); err != nil {
			return Meta{}, err
		}
		m = e.Metadata
		io := e.InvolvedObject
		f["involvedObject.kind"] = io.Kind
		f["involvedObject.namespace"] = io.Namespace
		f["involvedObject.name"] = io.Name
		f["involvedObject.uid"] = io.UID
		f["involvedObject.apiVersion"] = io.APIVersion
		f["involvedObject.resourceVersion"] = io.ResourceVersion
		f["involvedObject.fieldPath"] = io.FieldPath
		f["reason"] = e.Reason
		f["reportingComponent"] = e.ReportingComponent
		f["source"] = e.Source.Component
		f["type"] = e.Type
	case "replicasets", "replicationcontrollers":
		var r replicasFields
		if err := json.Unmarshal(raw, &r); err != nil {
			return Meta{}, err
		}
		m = r.Metadata
		f["status.replicas"] = strconv.Itoa(int(r.Status.Replicas))
	case "jobs":
		var j jobFields
		if err := json.Unmarshal(raw, &j); err != nil {
			return Meta{}, err
		}
		m = j.Metadata
		f["status.successful"] = strconv.Itoa(int(j.Status.Succeeded))
	default:
		var o metaOnly
		if err := json.Unmarshal(raw, &o); err != nil {
			return Meta{}, err
		}
		m = o.Metadata
	}
	if m.Name == "" {
		return Meta{}, fmt.Errorf("fieldlabels: stored object has no name")
	}
	f["metadata.name"] = m.Name
	f["metadata.namespace"] = m.Namespace
	names := namesOf(resource)
	vals := Values{names: names, values: make([]string, len(names))}
	for i, n := range names {
		vals.values[i] = f[n]
	}
	return Meta{UID: m.UID, Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, Fields: vals}, nil
}
