package controller

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
