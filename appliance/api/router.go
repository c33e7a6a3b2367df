// Package api is the appliance's HTTP API: a small router that answers
// every error as JSON ({"error": "..."}) with the right status code (404
// for unknown paths, 405 with Allow for a wrong method), and the handlers
// of the /v1 resources.
package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Params holds the values of a route's {name} path segments.
type Params map[string]string

// HandlerFunc handles one routed request.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p Params)

// route is one path pattern and its handler per method.
type route struct {
	segments []string // literal segments, or "{name}" for a parameter
	methods  map[string]HandlerFunc
}

// Router dispatches requests by method and path. Patterns are split on "/";
// a segment written {name} matches any one non-empty segment. Register
// routes before serving; Router is not safe for concurrent Handle calls.
type Router struct {
	routes []*route
}

// Handle registers h for method on pattern, e.g. ("GET", "/v1/host").
// It panics if the same method and pattern are registered twice, which is
// a programming error caught by the package tests.
func (rt *Router) Handle(method, pattern string, h HandlerFunc) {
	segs := splitPath(pattern)
	for _, r := range rt.routes {
		if strings.Join(r.segments, "/") == strings.Join(segs, "/") {
			if _, dup := r.methods[method]; dup {
				panic(fmt.Sprintf("api: %s %s registered twice", method, pattern))
			}
			r.methods[method] = h
			return
		}
	}
	rt.routes = append(rt.routes, &route{segments: segs, methods: map[string]HandlerFunc{method: h}})
}

// ServeHTTP routes the request, answering 404 or 405 as JSON.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := splitPath(r.URL.Path)
	for _, rte := range rt.routes {
		p, ok := match(rte.segments, segs)
		if !ok {
			continue
		}
		h, ok := rte.methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = rte.methods[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", allow(rte.methods))
			Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
			return
		}
		h(w, r, p)
		return
	}
	Error(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s", r.URL.Path))
}

// splitPath splits a URL path into its non-empty segments.
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// match matches path segments against a pattern, collecting parameters.
func match(pattern, path []string) (Params, bool) {
	if len(pattern) != len(path) {
		return nil, false
	}
	var p Params
	for i, seg := range pattern {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if p == nil {
				p = Params{}
			}
			p[seg[1:len(seg)-1]] = path[i]
			continue
		}
		if seg != path[i] {
			return nil, false
		}
	}
	return p, true
}

// allow lists a route's methods for the Allow header.
func allow(m map[string]HandlerFunc) string {
	names := make([]string, 0, len(m)+1)
	for k := range m {
		names = append(names, k)
	}
	if _, ok := m[http.MethodGet]; ok {
		if _, ok := m[http.MethodHead]; !ok {
			names = append(names, http.MethodHead)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// JSON writes v as an indented JSON response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		Error(w, http.StatusInternalServerError, fmt.Sprintf("encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// Error writes {"error": msg} with the given status.
func Error(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
