package rest

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/quota"
)

func (s *Server) getQuotas(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := s.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	l, err := quota.Read(s.cfg.DB, p["id"])
	answer(w, http.StatusOK, apiv1.Quotas(l), err)
}

func (s *Server) putQuotas(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	var q apiv1.QuotasRequest
	if err := decodeJSON(r.Body, &q, false); err != nil {
		fail(w, err)
		return
	}
	l, err := quota.Update(s.cfg.DB, p["id"], func(l quota.Limits) quota.Limits {
		return quota.Limits(q.Apply(apiv1.Quotas(l)))
	})
	answer(w, http.StatusOK, apiv1.Quotas(l), err)
}
