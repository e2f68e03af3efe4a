package fieldmanager

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objectConvertor is the managedfields object converter. Within one
// group/version it is the scheme's unsafe converter, which turns
// unstructured objects into typed ones and otherwise only sets the kind
// (kube-apiserver hands managedfields the same). Between versions it uses
// the ConvertFunc given with WithConversion; without one it reports the
// version as not registered, which makes structured-merge-diff drop the
// entries of managers of that version instead of failing the write.
type objectConvertor struct {
	runtime.ObjectConvertor
	scheme  *runtime.Scheme
	convert ConvertFunc
}

func newObjectConvertor(s *runtime.Scheme) *objectConvertor {
	return &objectConvertor{ObjectConvertor: runtime.UnsafeObjectConvertor(s), scheme: s}
}

func (c *objectConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	to, ok := target.(schema.GroupVersion)
	if !ok {
		return c.ObjectConvertor.ConvertToVersion(in, target)
	}
	kinds, _, err := c.scheme.ObjectKinds(in)
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if k.GroupVersion() == to {
			return c.ObjectConvertor.ConvertToVersion(in, to)
		}
	}
	if c.convert == nil {
		return nil, runtime.NewNotRegisteredErrForTarget("fieldmanager", reflect.TypeOf(in), to)
	}
	typed, err := c.ObjectConvertor.ConvertToVersion(in, kinds[0].GroupVersion())
	if err != nil {
		return nil, err
	}
	out, err := c.convert(typed, to)
	if err != nil {
		return nil, err
	}
	// Set the kind: the type converter finds the schema by it.
	return c.ObjectConvertor.ConvertToVersion(out, to)
}
