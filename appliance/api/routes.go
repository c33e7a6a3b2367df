package api

import (
	"net/http"
	"slices"
	"sort"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Route is one registered method and pattern.
type Route struct {
	Method  string
	Pattern string
}

// Routes lists every registered method and pattern, sorted by pattern then
// method. The OpenAPI document is generated from it so it cannot drift.
func (rt *Router) Routes() []Route {
	out := slices.Clone(rt.routes)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// HostDoc is the /v1/host document, the contract's (apiv1.Host): the
// host facts plus the SHA-256 fingerprint of the API's TLS certificate
// when it serves HTTPS.
type HostDoc = apiv1.Host

// HostHandler answers GET /v1/host with the host document and the TLS
// fingerprint (empty for plain HTTP).
func HostHandler(host HostSource, fingerprint string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ Params) {
		JSON(w, http.StatusOK, HostDoc{Host: host.Collect(), TLSFingerprint: fingerprint})
	}
}
