package endpoints

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNegotiate(t *testing.T) {
	const (
		table    = "application/json;as=Table;v=v1;g=meta.k8s.io"
		metadata = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
		protobuf = "application/vnd.kubernetes.protobuf"
	)
	tests := []struct {
		name    string
		accept  string
		want    outputKind
		wantErr bool
	}{
		{name: "no Accept", accept: "", want: outputObject},
		{name: "json", accept: "application/json", want: outputObject},
		{name: "json with charset", accept: "application/json; charset=utf-8", want: outputObject},
		{name: "anything", accept: "*/*", want: outputObject},
		{name: "any application type", accept: "application/*", want: outputObject},
		{name: "json then anything", accept: "application/json, */*", want: outputObject},
		{name: "patch types count as json", accept: "application/merge-patch+json", want: outputObject},

		{name: "table v1", accept: table, want: outputTable},
		{name: "table v1beta1", accept: "application/json;as=Table;v=v1beta1;g=meta.k8s.io", want: outputTable},
		{name: "kubectl get", accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", want: outputTable},
		{name: "kubectl get with protobuf first", accept: protobuf + ";as=Table;v=v1;g=meta.k8s.io, " + table + ", application/json", want: outputTable},
		{name: "table of an unknown version falls back", accept: "application/json;as=Table;v=v2;g=meta.k8s.io, application/json", want: outputObject},
		{name: "table of another group falls back", accept: "application/json;as=Table;v=v1;g=example.com, application/json", want: outputObject},
		{name: "table without a group falls back", accept: "application/json;as=Table;v=v1, application/json", want: outputObject},

		{name: "metadata", accept: metadata, want: outputMetadata},
		{name: "metadata list", accept: "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", want: outputMetadata},
		{name: "metadata v1beta1 then json", accept: "application/json;as=PartialObjectMetadata;v=v1beta1;g=meta.k8s.io, application/json", want: outputMetadata},

		{name: "protobuf first", accept: protobuf + ", application/json", want: outputProtobuf},
		{name: "protobuf alone", accept: protobuf, want: outputProtobuf},
		{name: "json before protobuf", accept: "application/json, " + protobuf, want: outputObject},
		{name: "anything before protobuf", accept: "*/*, " + protobuf, want: outputObject},

		{name: "garbage then json", accept: "a;;b=;, application/json", want: outputObject},
		{name: "only protobuf tables", accept: protobuf + ";as=Table;v=v1;g=meta.k8s.io", wantErr: true},
		{name: "only protobuf metadata", accept: protobuf + ";as=PartialObjectMetadata;v=v1;g=meta.k8s.io", wantErr: true},
		{name: "only yaml", accept: "application/yaml", wantErr: true},
		{name: "only html", accept: "text/html", wantErr: true},
		{name: "only an unsupported table", accept: "application/json;as=Table;v=v2;g=meta.k8s.io", wantErr: true},
		{name: "only an unknown as", accept: "application/json;as=Scale;v=v1;g=autoscaling", wantErr: true},
		{name: "garbage", accept: ";;;", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/pods", nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			got, err := negotiate(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("negotiate(%q) = %v, want 406", tt.accept, got)
				}
				wantClientError(t, err)
				if c := statusCode(err); c != http.StatusNotAcceptable {
					t.Errorf("code = %d, want 406", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("negotiate(%q): %v", tt.accept, err)
			}
			if got != tt.want {
				t.Errorf("negotiate(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestReadOutput(t *testing.T) {
	tests := []struct{ in, want outputKind }{
		{outputObject, outputObject},
		{outputTable, outputTable},
		{outputMetadata, outputMetadata},
		{outputProtobuf, outputObject}, // reads answer stored JSON
	}
	for _, tt := range tests {
		if got := readOutput(tt.in); got != tt.want {
			t.Errorf("readOutput(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
