package controller

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestWrittenFresh(t *testing.T) {
	w := NewWritten[*v1.Pod]()
	obj := func(rv string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u", ResourceVersion: rv}}
	}
	if got := w.Fresh("ns/p", obj("1")); got.ResourceVersion != "1" {
		t.Fatalf("nothing written: got %s", got.ResourceVersion)
	}
	w.Wrote("ns/p", "1", obj("2"))
	if got := w.Fresh("ns/p", obj("1")); got.ResourceVersion != "2" {
		t.Fatalf("stale cache: got %s, want the written 2", got.ResourceVersion)
	}
	// The cache caught up (or someone else wrote): trust it from now on.
	if got := w.Fresh("ns/p", obj("3")); got.ResourceVersion != "3" {
		t.Fatalf("newer cache: got %s", got.ResourceVersion)
	}
	if got := w.Fresh("ns/p", obj("1")); got.ResourceVersion != "1" {
		t.Fatalf("forgotten after catching up: got %s", got.ResourceVersion)
	}
	// A recreated object with the same name is not confused with the old.
	w.Wrote("ns/p", "5", obj("6"))
	other := obj("5")
	other.UID = "v"
	if got := w.Fresh("ns/p", other); got.UID != "v" {
		t.Fatal("written copy of another uid returned")
	}
}

// Seen recognises exactly the version a write returned (its watch echo)
// and then lets the written copy go.
func TestWrittenSeen(t *testing.T) {
	w := NewWritten[*v1.Pod]()
	obj := func(uid, rv string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: types.UID(uid), ResourceVersion: rv}}
	}
	if w.Seen("ns/p", obj("u", "2")) {
		t.Fatal("nothing written yet")
	}
	w.Wrote("ns/p", "1", obj("u", "2"))
	if w.Seen("ns/p", obj("u", "3")) || w.Seen("ns/p", obj("v", "2")) {
		t.Fatal("another version or object taken for the written one")
	}
	if !w.Seen("ns/p", obj("u", "2")) {
		t.Fatal("the written version is not recognised")
	}
	if len(w.items) != 0 {
		t.Fatal("the written copy is kept after its echo")
	}
}
