package rest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// Rack is the rack's machines that this box network-boots (rack
// bootstrap; rackboot.Registry).
type Rack interface {
	List() ([]apiv1.RackMachine, error)
	Get(mac string) (apiv1.RackMachine, error)
	Put(mac string, q apiv1.RackMachineRequest) (apiv1.RackMachine, error)
	Delete(mac string) error
	// Check calls the machine's API over the rack network.
	Check(ctx context.Context, m apiv1.RackMachine) *apiv1.RackAPICheck
}

// errNoRack answers the rack routes of a front end built without one.
var errNoRack = fmt.Errorf("%w: this server keeps no rack machines", apiv1.IncorrectState)

func (s *Server) listRack(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	if s.cfg.Rack == nil {
		fail(w, errNoRack)
		return
	}
	ms, err := s.cfg.Rack.List()
	if ms == nil {
		ms = []apiv1.RackMachine{}
	}
	answer(w, http.StatusOK, ms, err)
}

func (s *Server) getRack(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	if s.cfg.Rack == nil {
		fail(w, errNoRack)
		return
	}
	m, err := s.cfg.Rack.Get(p["mac"])
	if err == nil && r.URL.Query().Get("check") == "true" {
		m.APICheck = s.cfg.Rack.Check(r.Context(), m)
	}
	answer(w, http.StatusOK, m, err)
}

func (s *Server) putRack(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	if s.cfg.Rack == nil {
		fail(w, errNoRack)
		return
	}
	var q apiv1.RackMachineRequest
	if err := decodeJSON(r.Body, &q, false); err != nil {
		fail(w, err)
		return
	}
	m, err := s.cfg.Rack.Put(p["mac"], q)
	answer(w, http.StatusOK, m, err)
}

func (s *Server) deleteRack(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	if s.cfg.Rack == nil {
		fail(w, errNoRack)
		return
	}
	noContent(w, s.cfg.Rack.Delete(p["mac"]))
}
