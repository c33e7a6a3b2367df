package rest

import (
	"fmt"
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// Access keys of the EC2 endpoint: a tenant's own; the admin token owns
// none (the EC2 endpoint acts as a tenant).

// keyOwner returns who's tenant, or an error for the admin.
func keyOwner(who auth.Principal) (string, error) {
	if who.TenantID == "" {
		return "", fmt.Errorf("%w: the admin token owns no access keys: use a tenant's token", apiv1.InvalidParameter)
	}
	return who.TenantID, nil
}

func accessKeyView(k auth.AccessKey) apiv1.AccessKey {
	return apiv1.AccessKey{ID: k.ID, TenantID: k.TenantID, Created: k.Created}
}

func (s *Server) listAccessKeys(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	tenant, err := keyOwner(who)
	var ks []auth.AccessKey
	if err == nil {
		ks, err = s.cfg.AccessKeys.List(tenant)
	}
	out, err := viewsOf(ks, err, accessKeyView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) createAccessKey(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	tenant, err := keyOwner(who)
	if err != nil {
		fail(w, err)
		return
	}
	k, secret, err := s.cfg.AccessKeys.Create(tenant)
	answer(w, http.StatusCreated, apiv1.AccessKeyCreated{AccessKey: accessKeyView(k), Secret: secret}, err)
}

func (s *Server) deleteAccessKey(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	tenant, err := keyOwner(who)
	if err != nil {
		err = notFound("access key", p["id"])
	} else {
		err = s.cfg.AccessKeys.Delete(tenant, p["id"])
	}
	noContent(w, err)
}
