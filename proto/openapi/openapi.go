// Package openapi serves the OpenAPI (Swagger 2.0) description of the REST
// mirror, generated from the protos by scripts/gen-proto.sh.
package openapi

import _ "embed"

// JSON is the merged OpenAPI document of every service.
//
//go:embed coalition.swagger.json
var JSON []byte
