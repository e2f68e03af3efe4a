package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	doc := corev1.Event{}.SwaggerDoc()
	p := &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			column("Last Seen", doc["lastTimestamp"]),
			column("Type", doc["type"]),
			column("Reason", doc["reason"]),
			column("Object", doc["involvedObject"]),
			wideColumn("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
			wideColumn("Source", doc["source"]),
			column("Message", doc["message"]),
			wideColumn("First Seen", doc["firstTimestamp"]),
			wideColumn("Count", doc["count"]),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: objectMetaDoc["name"]},
		},
		rows: rowsOfErr(func(obj runtime.Object, now time.Time) ([]any, error) {
			ev, err := asCoreEvent(obj)
			if err != nil {
				return nil, err
			}
			return eventCells(ev, now), nil
		}),
	}
	// events.k8s.io events are core events in storage; Kubernetes prints both alike.
	register(core("Event"), p)
	register(schema.GroupKind{Group: eventsv1.GroupName, Kind: "Event"}, p)
}

func eventCells(ev *corev1.Event, now time.Time) []any {
	first := since(ev.FirstTimestamp, now)
	if ev.FirstTimestamp.IsZero() {
		first = sinceMicro(ev.EventTime, now)
	}
	last := first
	if !ev.LastTimestamp.IsZero() {
		last = since(ev.LastTimestamp, now)
	}
	count := ev.Count
	if ev.Series != nil {
		last = sinceMicro(ev.Series.LastObservedTime, now)
		count = ev.Series.Count
	} else if count == 0 {
		// Events of the new API happen once unless they have a series.
		count = 1
	}

	object := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		object += "/" + ev.InvolvedObject.Name
	}
	return []any{
		last,
		ev.Type,
		ev.Reason,
		object,
		ev.InvolvedObject.FieldPath,
		eventSource(ev),
		strings.TrimSpace(ev.Message),
		first,
		int64(count),
		ev.Name,
	}
}

// eventSource is "component, host", falling back to the reporting
// controller and instance that newer clients set instead.
func eventSource(ev *corev1.Event) string {
	component := cmpOr(ev.Source.Component, ev.ReportingController)
	host := cmpOr(ev.Source.Host, ev.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// asCoreEvent gives an events.k8s.io event the shape of a core event, as
// the API's conversion does.
func asCoreEvent(obj runtime.Object) (*corev1.Event, error) {
	switch ev := obj.(type) {
	case *corev1.Event:
		return ev, nil
	case *eventsv1.Event:
		out := &corev1.Event{
			ObjectMeta:          ev.ObjectMeta,
			InvolvedObject:      ev.Regarding,
			Reason:              ev.Reason,
			Message:             ev.Note,
			Source:              ev.DeprecatedSource,
			FirstTimestamp:      ev.DeprecatedFirstTimestamp,
			LastTimestamp:       ev.DeprecatedLastTimestamp,
			Count:               ev.DeprecatedCount,
			Type:                ev.Type,
			EventTime:           ev.EventTime,
			Action:              ev.Action,
			Related:             ev.Related,
			ReportingController: ev.ReportingController,
			ReportingInstance:   ev.ReportingInstance,
		}
		if ev.Series != nil {
			out.Series = &corev1.EventSeries{Count: ev.Series.Count, LastObservedTime: ev.Series.LastObservedTime}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: got %T, want an Event", ErrUnexpectedObject, obj)
}
