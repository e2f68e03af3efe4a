package app

import (
	"net/http"

	"drover.dev/apiserver/internal/defaults"
	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/fieldmanager"
	"drover.dev/apiserver/internal/openapi"
	"drover.dev/apiserver/internal/printers"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/apiserver/internal/validation"
)

// hooks plugs the per-kind rules into the resource API.
func hooks() endpoints.Hooks {
	return endpoints.Hooks{
		Default:              defaults.Default,
		Validate:             validation.Validate,
		ValidateUpdate:       validation.ValidateUpdate,
		ValidateStatusUpdate: validation.ValidateStatusUpdate,
		Table:                printers.Table,
	}
}

// newFieldManager builds managedFields tracking and server-side apply from
// the same schemas the OpenAPI documents publish.
func newFieldManager(reg *registry.Registry) (*fieldmanager.Manager, error) {
	schemas, err := openapi.Schemas(reg)
	if err != nil {
		return nil, err
	}
	return fieldmanager.New(reg, schemas, defaults.Default, fieldmanager.WithConversion(endpoints.VersionConverter(reg)))
}

func openAPIHandler(reg *registry.Registry) http.Handler {
	return openapi.New(reg, Version.GitVersion)
}
