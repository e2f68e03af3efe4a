// Package printers renders API objects as metav1.Table, the server-side
// printing behind `kubectl get`. Columns, cell types and cell values follow
// kube-apiserver 1.37 (pkg/printers/internalversion), so kubectl output is the
// same against drover as against Kubernetes.
//
// Like kube-apiserver, every table is generated "wide": priority 1 columns
// and their cells are always present, and kubectl hides them unless asked
// for -o wide. Kubernetes prints objects after decoding and defaulting them;
// where an unset field would print differently from its default (a nil
// replica count, an empty service type), the printers use the default.
package printers

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// ErrUnexpectedObject is returned when an object is not of the Go type the
// kind's printer expects.
var ErrUnexpectedObject = errors.New("printers: unexpected object type")

// tableGVK is what a Table answer declares itself as.
var tableGVK = metav1.SchemeGroupVersion.WithKind("Table")

// kindPrinter renders one kind: its columns, and a function producing one row
// per object, in order.
type kindPrinter struct {
	columns []metav1.TableColumnDefinition
	rows    rowsFunc
}

// kindPrinters holds a printer per group and kind. Versions share a printer
// because Kubernetes prints the internal type whatever version was asked
// for; the row functions accept every served version of their kind.
var kindPrinters = map[schema.GroupKind]*kindPrinter{}

// register adds the printer for a kind; each kind is registered once.
func register(gk schema.GroupKind, p *kindPrinter) {
	if _, dup := kindPrinters[gk]; dup {
		panic(fmt.Sprintf("printers: duplicate printer for %v", gk))
	}
	kindPrinters[gk] = p
}

// Table renders objects (all of one kind; versioned k8s.io/api types, e.g. []runtime.Object of *corev1.Pod) as a metav1.Table.
// noHeaders leaves out ColumnDefinitions (the includeObject/noHeaders table options); now is used for AGE.
// The core fills Rows[i].Object itself, and the list metadata; you fill ColumnDefinitions and Rows[i].Cells.
func Table(gvk schema.GroupVersionKind, objs []runtime.Object, noHeaders bool, now time.Time) (*metav1.Table, error) {
	p, ok := kindPrinters[gvk.GroupKind()]
	if !ok {
		p = defaultPrinter
	}
	typed, err := typedObjects(gvk, objs)
	if err != nil {
		return nil, err
	}
	rows, err := p.rows(typed, now)
	if err != nil {
		return nil, fmt.Errorf("printing %v: %w", gvk, err)
	}
	table := &metav1.Table{Rows: rows}
	table.SetGroupVersionKind(tableGVK)
	if !noHeaders {
		// A copy, so the caller may reorder or filter columns.
		table.ColumnDefinitions = slices.Clone(p.columns)
	}
	return table, nil
}

// typedObjects converts unstructured objects to their k8s.io/api types so
// the printers can work on one representation. Typed objects pass through.
func typedObjects(gvk schema.GroupVersionKind, objs []runtime.Object) ([]runtime.Object, error) {
	out, copied := objs, false
	for i, obj := range objs {
		u, ok := obj.(runtime.Unstructured)
		if !ok {
			continue
		}
		if _, printable := kindPrinters[gvk.GroupKind()]; !printable {
			// The default table needs only metadata, which Unstructured has.
			continue
		}
		objGVK := obj.GetObjectKind().GroupVersionKind()
		if objGVK.Empty() {
			objGVK = gvk
		}
		typed, err := scheme.Scheme.New(objGVK)
		if err != nil {
			return nil, fmt.Errorf("printers: %v: %w", objGVK, err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
			return nil, fmt.Errorf("printers: converting %v: %w", objGVK, err)
		}
		if !copied {
			out, copied = slices.Clone(objs), true
		}
		out[i] = typed
	}
	return out, nil
}

// rowsFunc renders objects of one kind as table rows, one per object, in order.
type rowsFunc func(objs []runtime.Object, now time.Time) ([]metav1.TableRow, error)

// rowsOf adapts a function printing the cells of one object of type T.
func rowsOf[T runtime.Object](cells func(obj T, now time.Time) []any) rowsFunc {
	return rowsOfErr(func(obj T, now time.Time) ([]any, error) { return cells(obj, now), nil })
}

// rowsOfErr is rowsOf for printing that can fail.
func rowsOfErr[T runtime.Object](cells func(obj T, now time.Time) ([]any, error)) rowsFunc {
	return func(objs []runtime.Object, now time.Time) ([]metav1.TableRow, error) {
		rows := make([]metav1.TableRow, 0, len(objs))
		for _, obj := range objs {
			t, ok := obj.(T)
			if !ok {
				var want T
				return nil, fmt.Errorf("%w: got %T, want %T", ErrUnexpectedObject, obj, want)
			}
			c, err := cells(t, now)
			if err != nil {
				return nil, err
			}
			rows = append(rows, metav1.TableRow{Cells: c})
		}
		return rows, nil
	}
}

// defaultPrinter is kube-apiserver's table for resources without a printer
// (rest.NewDefaultTableConvertor): the name and the creation time.
var defaultPrinter = &kindPrinter{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
	},
	rows: func(objs []runtime.Object, _ time.Time) ([]metav1.TableRow, error) {
		// Unlike the printers, Kubernetes leaves an empty table's rows null here.
		var rows []metav1.TableRow
		for _, obj := range objs {
			m, err := meta.Accessor(obj)
			if err != nil {
				return nil, fmt.Errorf("%w: %T has no object metadata", ErrUnexpectedObject, obj)
			}
			created := m.GetCreationTimestamp().UTC().Format(time.RFC3339)
			rows = append(rows, metav1.TableRow{Cells: []any{m.GetName(), created}})
		}
		return rows, nil
	},
}
