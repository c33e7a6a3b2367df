// Package apiv1 is the contract of the appliance's native API (/v1): the
// request and response types of every route, the route table itself
// (method, path, access level, body and answer types), the one error
// taxonomy (Code, Error) and a typed Go client (Client).
//
// Everything that speaks the API goes through this package: the HTTP
// front end (package rest) decodes and encodes these types and serves the
// OpenAPI document generated from them; ctl, the end-to-end tests and the
// benchmarks use the Client. So neither paths nor shapes can drift.
//
// The package is a leaf of the appliance: it imports only the standard
// library and hostinfo (for the host document). That is what lets the
// packages below the front ends (store, auth, types, images, lifecycle,
// the core) declare their errors as kinds of the taxonomy
// (NewError(NotFound, "image not found")) without an import cycle, and
// lets one CodeOf classify every error without listing sentinels. The
// name carries the version: a /v2 would be a sibling package.
package apiv1
