package controllers

import (
	"errors"
	"testing"
)

func TestTableRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name    string
		table   []Descriptor
		wantErr error
	}{
		{"distinct", []Descriptor{{Name: "a"}, {Name: "b"}}, nil},
		{"duplicate", []Descriptor{{Name: "a"}, {Name: "b"}, {Name: "a"}}, ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := check(tt.table)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := Table(); err != nil {
		t.Fatalf("the real table: %v", err)
	}
	for _, d := range table {
		if d.Workers < 1 || d.New == nil {
			t.Errorf("%s: workers %d, constructor %v", d.Name, d.Workers, d.New != nil)
		}
	}
}
