// Package rest is the native HTTP front end of the appliance: the JSON
// API under /v1 that apiv1 describes. It only decodes requests into
// apiv1's types, authenticates the bearer token and enforces each route's
// declared access level, calls the core (package domain, package
// orchestrator, and the auth, types, images and metering services), and
// encodes the answer or the error (apiv1.CodeOf decides the status). The
// EC2 Query endpoint and the web console will be its siblings under
// appliance/frontend, calling the same core.
//
// Routing is package api's router: Go 1.22's ServeMux with the
// contract's patterns ("GET /v1/instances/{id}"), wrapped so that every
// miss is answered as JSON (404, or 405 with Allow) rather than in text
// or as a redirect; see package api for the measurement behind it.
package rest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Config is the core the front end calls.
type Config struct {
	// DB is the store, for the quotas (package quota).
	DB   *store.DB
	Auth *auth.Service
	// AccessKeys holds the EC2 endpoint's SigV4 keys.
	AccessKeys *auth.AccessKeys
	Catalog    *types.Catalog
	Images     *images.Store
	Meter      *metering.Meter
	Domain     *domain.Domain
	Orch       *orchestrator.Orchestrator
	Host       api.HostSource
	// TLSFingerprint is shown in /v1/host; empty for plain HTTP.
	TLSFingerprint string
	// Metrics is the registry /metrics serves; the front end registers
	// its request counter in it.
	Metrics *prometheus.Registry
	// Version is the API version in the OpenAPI document.
	Version string
	// Limit is the request rate limit of each API token, shared with the
	// other front ends; nil is no limit.
	Limit *ratelimit.Limiter
	// HostUpdate installs a new appliance image (POST /v1/host/update);
	// nil answers that this host does not update itself.
	HostUpdate apiv1.HostUpdater
	// Now may be nil for time.Now.
	Now func() time.Time
	// Rack is the rack's machines for /v1/rack; nil answers those
	// routes with IncorrectState.
	Rack Rack
}

// handler is a routed handler that knows its caller.
type handler func(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal)

// Server is the HTTP front end.
type Server struct {
	cfg      Config
	router   *api.Router
	requests *prometheus.CounterVec
	metrics  http.Handler
}

// New binds a handler to every route of apiv1.Routes, each behind the
// access check the route declares. It panics if a route has no handler
// or a handler no route, a programming error the package tests catch.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, router: &api.Router{}}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ironvisor_api_requests_total",
		Help: "API requests by method, route pattern and status code.",
	}, []string{"method", "route", "code"})
	if err := cfg.Metrics.Register(s.requests); err != nil {
		return nil, fmt.Errorf("register api metrics: %w", err)
	}
	s.metrics = promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})
	hs := s.handlers()
	for _, rt := range apiv1.Routes() {
		h, ok := hs[rt.Key()]
		if !ok {
			panic("rest: no handler for " + rt.Key())
		}
		delete(hs, rt.Key())
		s.router.Handle(rt.Method, rt.Pattern, s.guard(rt, h))
	}
	for k := range hs {
		panic("rest: handler for no route: " + k)
	}
	return s, nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() *api.Router { return s.router }

// guard authenticates the request and enforces the route's access.
func (s *Server) guard(rt apiv1.Route, h handler) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p api.Params) {
		var who auth.Principal
		if rt.Access != apiv1.AccessPublic {
			var err error
			if who, err = s.cfg.Auth.Authenticate(r.Header.Get("Authorization")); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ironvisor"`)
				api.Error(w, http.StatusUnauthorized, "missing or invalid bearer token (Authorization: Bearer <token>)")
				s.request(rt, http.StatusUnauthorized)
				return
			}
			if ok, wait := s.cfg.Limit.Allow(who.TokenID); !ok {
				s.tooMany(w, r, rt, wait)
				return
			}
		}
		if rt.Access == apiv1.AccessAdmin && !who.Admin {
			api.Error(w, http.StatusForbidden, "this needs the admin token")
			s.request(rt, http.StatusForbidden)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r, p, who)
		s.request(rt, sw.status)
	}
}

// tooMany answers 429 with Retry-After in whole seconds (at least 1),
// after holding the request for ratelimit.HoldFor.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, rt apiv1.Route, wait time.Duration) {
	ratelimit.Hold(r.Context())
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	fail(w, fmt.Errorf("%w: this token's rate is %g requests a second (burst %g)",
		apiv1.RequestLimitExceeded, s.cfg.Limit.Rate(), s.cfg.Limit.Burst()))
	s.request(rt, http.StatusTooManyRequests)
}

// request counts one answered request.
func (s *Server) request(rt apiv1.Route, code int) {
	s.requests.WithLabelValues(rt.Method, rt.Pattern, strconv.Itoa(code)).Inc()
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WriteHeader records code and writes it.
func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// fail answers err with the status and code of its kind (apiv1.CodeOf).
func fail(w http.ResponseWriter, err error) {
	code := apiv1.CodeOf(err)
	api.JSON(w, code.Status(), apiv1.Error{Message: err.Error(), Code: code})
}

// answer answers v with status, or err.
func answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, status, v)
}

// noContent answers 204, or err.
func noContent(w http.ResponseWriter, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RefuseStranger answers a request that ratelimit.Strangers refused
// (its client address failed to authenticate too often): 429 with
// Retry-After, in the API's error format.
func RefuseStranger(w http.ResponseWriter, _ *http.Request, wait time.Duration) {
	ratelimit.SetRetryAfter(w, wait)
	fail(w, fmt.Errorf("%w: too many failed authentications from this address; try again later", apiv1.RequestLimitExceeded))
}
