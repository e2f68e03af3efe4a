package cache

import (
	"bytes"
	"io"
	"strconv"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Item is one object as stored in etcd, with what filters need already
// extracted. Items are immutable once built; the cache shares them freely.
type Item struct {
	UID       string
	Key       string
	Namespace string
	Name      string
	// Raw is the stored JSON, which carries no resourceVersion.
	Raw []byte
	// metaAt is the offset just after `"metadata":{` in Raw, where the
	// resourceVersion is spliced in when the object is written out.
	metaAt int
	RV     int64
	Labels labels.Set
	Fields fields.Fields
}

var metadataOpen = []byte(`"metadata":{`)

// NewItem builds an item. Raw must be JSON produced by encoding a typed API
// object: kind and apiVersion come first, so the first `"metadata":{` is the
// object's own metadata.
func NewItem(key, namespace, name string, raw []byte, rv int64, lbls labels.Set, flds fields.Fields) *Item {
	at := bytes.Index(raw, metadataOpen)
	if at >= 0 {
		at += len(metadataOpen)
	}
	return &Item{Key: key, Namespace: namespace, Name: name, Raw: raw, metaAt: at, RV: rv, Labels: lbls, Fields: flds}
}

// WriteJSON writes the object with resourceVersion rv set in its metadata.
func (it *Item) WriteJSON(w io.Writer, rv int64) error {
	if it.metaAt < 0 {
		_, err := w.Write(it.Raw)
		return err
	}
	var buf [48]byte
	b := append(buf[:0], `"resourceVersion":"`...)
	b = strconv.AppendInt(b, rv, 10)
	b = append(b, '"')
	if it.metaAt < len(it.Raw) && it.Raw[it.metaAt] != '}' {
		b = append(b, ',')
	}
	if _, err := w.Write(it.Raw[:it.metaAt]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write(it.Raw[it.metaAt:])
	return err
}

// JSON returns the object with its own resourceVersion set.
func (it *Item) JSON() []byte {
	var b bytes.Buffer
	b.Grow(len(it.Raw) + 32)
	_ = it.WriteJSON(&b, it.RV)
	return b.Bytes()
}
