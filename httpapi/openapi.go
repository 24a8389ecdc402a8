package httpapi

import (
	_ "embed"
	"net/http"
)

// OpenAPIPath serves the OpenAPI 3 document of the REST API.
const OpenAPIPath = ClientBase + "/openapi.json"

// openAPIDoc is kept as a static file rather than generated from the router so that it can carry
// the shapes, examples and error bodies a generator cannot know; openapi_test.go holds it to the
// routes that exist, in both directions.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the REST API (the bytes are shared: do not modify).
func OpenAPI() []byte { return openAPIDoc }

// GET /api/engine/v2/openapi.json
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeRaw(w, http.StatusOK, openAPIDoc)
}
