package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchRouter registers a table the size and shape of the /v1 API.
func benchRouter() *Router {
	rt := &Router{}
	nop := func(w http.ResponseWriter, r *http.Request, p Params) {}
	for _, res := range []string{"tenants", "instance-types", "images", "instances", "networks", "security-groups", "key-pairs", "port-forwards", "public-ips"} {
		rt.Handle("GET", "/v1/"+res, nop)
		rt.Handle("POST", "/v1/"+res, nop)
		rt.Handle("GET", "/v1/"+res+"/{id}", nop)
		rt.Handle("DELETE", "/v1/"+res+"/{id}", nop)
	}
	for _, verb := range []string{"stop", "start", "reboot", "console"} {
		rt.Handle("POST", "/v1/instances/{id}/"+verb, nop)
	}
	return rt
}

// BenchmarkRouter routes a request to the deepest instance route, which a
// linear router finds last, and a miss.
func BenchmarkRouter(b *testing.B) {
	rt := benchRouter()
	for _, path := range []string{"/v1/instances/i-0123456789abcdef/console", "/v1/nothing/here"} {
		b.Run(strings.Split(path, "/")[2], func(b *testing.B) {
			req := httptest.NewRequest("POST", path, nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w.Body.Reset()
				rt.ServeHTTP(w, req)
			}
		})
	}
}
