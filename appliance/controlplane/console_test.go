package controlplane

import (
	"net/http"
	"strings"
	"testing"
)

// TestConsoleMountedBesideTheAPI: the web console answers under
// /console/, /console sends there, and the API keeps every other path.
func TestConsoleMountedBesideTheAPI(t *testing.T) {
	e := newEnv(t, nil)
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/console/login", http.StatusOK, "text/html"},
		{"/console/instances", http.StatusSeeOther, ""},
		{"/console", http.StatusMovedPermanently, ""},
		{"/console/static/console.css", http.StatusOK, "text/css"},
		{"/v1/host", http.StatusUnauthorized, "application/json"},
		{"/consoles", http.StatusNotFound, "application/json"},
	} {
		resp, err := c.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
	}
}
