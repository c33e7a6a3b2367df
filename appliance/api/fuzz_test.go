package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzRouter sends arbitrary methods and paths: the router must not panic
// and must always answer valid JSON.
func FuzzRouter(f *testing.F) {
	for _, s := range [][2]string{{"GET", "/v1/host"}, {"POST", "/v1/host"}, {"GET", "//v1//instances/{id}"}, {"X", "/../.."}} {
		f.Add(s[0], s[1])
	}
	rt := New(staticHost{})
	rt.Handle("GET", "/v1/things/{id}", func(w http.ResponseWriter, r *http.Request, p Params) {
		JSON(w, 200, p)
	})
	f.Fuzz(func(t *testing.T, method, path string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.URL = &url.URL{Path: path}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if method != http.MethodHead && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q %q: body %q is not JSON", method, path, rec.Body)
		}
	})
}
