package endpoints

import (
	"mime"
	"net"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"drover.dev/apiserver/internal/registry"
)

// Discovery serves /api, /apis and the per-group-version resource lists,
// both as the classic documents and as aggregated discovery (apidiscovery.k8s.io/v2),
// which kubectl asks for first.
type Discovery struct {
	reg *registry.Registry
}

// NewDiscovery returns the discovery handler.
func NewDiscovery(reg *registry.Registry) *Discovery { return &Discovery{reg: reg} }

const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if params["as"] == "" {
			return false
		}
	}
	return false
}

// ServeHTTP answers a discovery path; ok is false when path is not one.
func (d *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request) bool {
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) == 1 && parts[0] == "api":
		if wantsAggregated(r) {
			d.writeAggregated(w, r, true)
			return true
		}
		writeJSON(w, r, http.StatusOK, &metav1.APIVersions{
			TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
			Versions:                   []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)}},
		})
	case len(parts) == 1 && parts[0] == "apis":
		if wantsAggregated(r) {
			d.writeAggregated(w, r, false)
			return true
		}
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range d.reg.Groups() {
			list.Groups = append(list.Groups, apiGroup(g))
		}
		writeJSON(w, r, http.StatusOK, list)
	case len(parts) == 2 && parts[0] == "apis":
		for _, g := range d.reg.Groups() {
			if g.Name == parts[1] {
				grp := apiGroup(g)
				grp.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, r, http.StatusOK, &grp)
				return true
			}
		}
		return false
	case len(parts) == 2 && parts[0] == "api":
		return d.writeResourceList(w, r, schema.GroupVersion{Version: parts[1]})
	case len(parts) == 3 && parts[0] == "apis":
		return d.writeResourceList(w, r, schema.GroupVersion{Group: parts[1], Version: parts[2]})
	default:
		return false
	}
	return true
}

func serverAddress(r *http.Request) string {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "443")
	}
	return host
}

func apiGroup(g registry.Group) metav1.APIGroup {
	grp := metav1.APIGroup{Name: g.Name}
	for _, v := range g.Versions {
		grp.Versions = append(grp.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.Name + "/" + v, Version: v})
	}
	grp.PreferredVersion = grp.Versions[0]
	return grp
}

func (d *Discovery) writeResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) bool {
	resources := d.reg.ForGroupVersion(gv)
	if len(resources) == 0 {
		return false
	}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, res := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name:         res.Resource,
			SingularName: res.SingularName,
			Namespaced:   res.Namespaced,
			Kind:         res.Kind,
			Verbs:        res.Verbs,
			ShortNames:   res.ShortNames,
			Categories:   res.Categories,
		})
		for _, sub := range res.Subresources {
			ar := metav1.APIResource{
				Name:       res.Resource + "/" + sub.Name,
				Namespaced: res.Namespaced,
				Kind:       sub.GVK.Kind,
				Verbs:      sub.Verbs,
			}
			if sub.GVK.GroupVersion() != gv {
				ar.Group, ar.Version = sub.GVK.Group, sub.GVK.Version
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	writeJSON(w, r, http.StatusOK, list)
	return true
}

func (d *Discovery) writeAggregated(w http.ResponseWriter, r *http.Request, core bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	if core {
		list.Items = append(list.Items, d.groupDiscovery("", []string{"v1"}))
	} else {
		for _, g := range d.reg.Groups() {
			list.Items = append(list.Items, d.groupDiscovery(g.Name, g.Versions))
		}
	}
	w.Header().Set("Vary", "Accept")
	body, err := jsonMarshal(r, list)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (d *Discovery) groupDiscovery(group string, versions []string) apidiscoveryv2.APIGroupDiscovery {
	gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}}
	for _, v := range versions {
		vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, res := range d.reg.ForGroupVersion(schema.GroupVersion{Group: group, Version: v}) {
			scope := apidiscoveryv2.ScopeCluster
			if res.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			gvk := res.GVK()
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource:         res.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
				Scope:            scope,
				SingularResource: res.SingularName,
				Verbs:            res.Verbs,
				ShortNames:       res.ShortNames,
				Categories:       res.Categories,
			}
			for _, sub := range res.Subresources {
				rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource:  sub.Name,
					ResponseKind: &metav1.GroupVersionKind{Group: sub.GVK.Group, Version: sub.GVK.Version, Kind: sub.GVK.Kind},
					Verbs:        sub.Verbs,
				})
			}
			vd.Resources = append(vd.Resources, rd)
		}
		gd.Versions = append(gd.Versions, vd)
	}
	return gd
}
