package fieldmanager

import (
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"drover.dev/apiserver/internal/registry"
)

// resetFields says which fields a write through subresource does not own
// because the update strategy puts them back, Kubernetes' GetResetFields:
//
//   - the main resource of a kind with a status subresource does not own
//     status (every such strategy in Kubernetes resets exactly status);
//   - the status subresource owns only status. Kubernetes' status
//     strategies reset spec (pods also metadata.deletionTimestamp and
//     ownerReferences, deployments metadata.labels) and keep the other
//     metadata a status write sends; drover's status update keeps
//     everything of the stored object but status, so ownership follows
//     what is written;
//   - namespaces/finalize does not own status, as in Kubernetes.
//
// The filters are keyed by every version the resource is served in, so that
// managers that wrote through another version are compared the same way.
func resetFields(reg *registry.Registry, res *registry.Resource, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	var filter fieldpath.Filter
	switch subresource {
	case "":
		if _, ok := res.HasSubresource("status"); ok {
			filter = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
		}
	case "status":
		filter = fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("status"))
	case "finalize":
		filter = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
	}
	if filter == nil {
		return nil
	}
	out := map[fieldpath.APIVersion]fieldpath.Filter{}
	for _, other := range reg.Resources() {
		if other.Storage == res.Storage {
			out[fieldpath.APIVersion(other.GroupVersion().String())] = filter
		}
	}
	return out
}
