package openapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"drover.dev/apiserver/internal/registry"
)

// TestDump writes the documents to $OPENAPI_DUMP_DIR for inspection.
func TestDump(t *testing.T) {
	dir := os.Getenv("OPENAPI_DUMP_DIR")
	if dir == "" {
		t.Skip("OPENAPI_DUMP_DIR not set")
	}
	s := New(registry.Builtin(), "v1.37.2")
	if err := s.build(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, d *servedDoc) {
		b, _ := d.json.plain()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("swagger.json", s.v2)
	write("root.json", s.root)
	for k, d := range s.v3 {
		write(strings.ReplaceAll(k, "/", "__")+"_openapi.json", d)
	}
}
