package rest

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// handlers binds each route of apiv1.Routes, by its key, to its handler.
func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"GET /v1/host":                               s.getHost,
		"POST /v1/host/update":                       s.updateHost,
		"GET /v1/openapi.json":                       s.getOpenAPI,
		"GET /metrics":                               s.getMetrics,
		"GET /v1/tenants":                            s.listTenants,
		"POST /v1/tenants":                           s.createTenant,
		"GET /v1/tenants/{id}/tokens":                s.listTokens,
		"POST /v1/tenants/{id}/tokens":               s.issueToken,
		"DELETE /v1/tenants/{id}/tokens/{token_id}":  s.revokeToken,
		"GET /v1/tenants/{id}/quotas":                s.getQuotas,
		"PUT /v1/tenants/{id}/quotas":                s.putQuotas,
		"GET /v1/instance-types":                     s.listTypes,
		"POST /v1/instance-types":                    s.addType,
		"GET /v1/images":                             s.listImages,
		"POST /v1/images":                            s.uploadImage,
		"GET /v1/images/{id}":                        s.getImage,
		"DELETE /v1/images/{id}":                     s.deleteImage,
		"GET /v1/image-imports":                      s.listImports,
		"POST /v1/image-imports":                     s.importImage,
		"GET /v1/image-imports/{id}":                 s.getImport,
		"GET /v1/instances":                          s.listInstances,
		"POST /v1/instances":                         s.launch,
		"GET /v1/instances/{id}":                     s.getInstance,
		"PATCH /v1/instances/{id}":                   s.patchInstance,
		"DELETE /v1/instances/{id}":                  s.terminate,
		"POST /v1/instances/{id}/stop":               s.stop,
		"POST /v1/instances/{id}/start":              s.start,
		"POST /v1/instances/{id}/reboot":             s.reboot,
		"GET /v1/instances/{id}/console":             s.console,
		"POST /v1/instances/{id}/console":            s.consoleWrite,
		"GET /v1/networks":                           s.listNetworks,
		"POST /v1/networks":                          s.createNetwork,
		"GET /v1/networks/{name}":                    s.getNetwork,
		"DELETE /v1/networks/{name}":                 s.deleteNetwork,
		"GET /v1/security-groups":                    s.listGroups,
		"POST /v1/security-groups":                   s.createGroup,
		"GET /v1/security-groups/{name}":             s.getGroup,
		"PUT /v1/security-groups/{name}":             s.putGroup,
		"DELETE /v1/security-groups/{name}":          s.deleteGroup,
		"GET /v1/rack/machines":                      s.listRack,
		"GET /v1/rack/machines/{mac}":                s.getRack,
		"PUT /v1/rack/machines/{mac}":                s.putRack,
		"DELETE /v1/rack/machines/{mac}":             s.deleteRack,
		"GET /v1/key-pairs":                          s.listKeyPairs,
		"POST /v1/key-pairs":                         s.importKeyPair,
		"GET /v1/key-pairs/{name}":                   s.getKeyPair,
		"DELETE /v1/key-pairs/{name}":                s.deleteKeyPair,
		"GET /v1/port-forwards":                      s.listForwards,
		"POST /v1/port-forwards":                     s.createForward,
		"GET /v1/port-forwards/{id}":                 s.getForward,
		"DELETE /v1/port-forwards/{id}":              s.deleteForward,
		"GET /v1/public-ips":                         s.listPublicIPs,
		"POST /v1/public-ips":                        s.allocatePublicIP,
		"GET /v1/public-ips/{address}":               s.getPublicIP,
		"DELETE /v1/public-ips/{address}":            s.releasePublicIP,
		"POST /v1/public-ips/{address}/associate":    s.associatePublicIP,
		"POST /v1/public-ips/{address}/disassociate": s.disassociatePublicIP,
		"GET /v1/access-keys":                        s.listAccessKeys,
		"POST /v1/access-keys":                       s.createAccessKey,
		"DELETE /v1/access-keys/{id}":                s.deleteAccessKey,
		"GET /v1/usage":                              s.usage,
	}
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	api.JSON(w, http.StatusOK, apiv1.Host{Host: s.cfg.Host.Collect(), TLSFingerprint: s.cfg.TLSFingerprint})
}

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	api.JSON(w, http.StatusOK, apiv1.OpenAPI(s.cfg.Version))
}

func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	s.metrics.ServeHTTP(w, r)
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	ts, err := s.cfg.Auth.Tenants()
	out, err := viewsOf(ts, err, tenantView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	q, err := decodeTenant(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	t, tok, err := s.cfg.Auth.CreateTenant(q.Name)
	answer(w, http.StatusCreated, apiv1.TenantCreated{ID: t.ID, Name: t.Name, Token: tok}, err)
}

// tenantOf checks that who may act on tenant id (itself, or the admin).
func (s *Server) tenantOf(id string, who auth.Principal) error {
	if !who.CanAccess(id) {
		return notFound("tenant", id)
	}
	if _, err := s.cfg.Auth.Tenant(id); err != nil {
		return notFound("tenant", id)
	}
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := s.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	toks, err := s.cfg.Auth.ListTokens(p["id"])
	out, err := viewsOf(toks, err, tokenView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := s.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	tok, desc, err := s.cfg.Auth.IssueToken(p["id"])
	answer(w, http.StatusCreated, apiv1.TokenIssued{ID: desc.ID, Token: tok}, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	err := s.tenantOf(p["id"], who)
	if err == nil {
		err = s.cfg.Auth.RevokeToken(p["id"], p["token_id"])
	}
	noContent(w, err)
}

func (s *Server) listTypes(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	ts, err := s.cfg.Catalog.List()
	out, err := viewsOf(ts, err, typeView)
	answer(w, http.StatusOK, out, err)
}

// addType decodes with types.DecodeType, which owns the rules of a type
// (memory in bytes or MiB, bounds); apiv1.InstanceTypeRequest is its shape.
func (s *Server) addType(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	b, err := readAll(r, types.MaxRequestBytes)
	if err != nil {
		fail(w, err)
		return
	}
	t, err := types.DecodeType(b)
	if err == nil {
		t, err = s.cfg.Catalog.Add(t)
	}
	out, err := viewOf(t, err, typeView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	all, err := s.cfg.Images.List()
	if all == nil {
		all = []images.Image{}
	}
	out, err := viewsOf(all, err, imageView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	img, err := s.cfg.Images.Get(p["id"])
	out, err := viewOf(img, err, imageView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	noContent(w, s.cfg.Orch.DeleteImage(p["id"]))
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q := r.URL.Query()
	from, to, err := metering.ParseWindow(q.Get("from"), q.Get("to"), s.cfg.Now())
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	rep, err := s.cfg.Meter.Usage(from, to, who.TenantID)
	out, err := viewOf(rep, err, usageView)
	answer(w, http.StatusOK, out, err)
}
