package rest

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Networks, security groups, port forwards, public IPs and key pairs: each
// handler decodes, calls the domain and renders its answer.

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	ns, err := s.cfg.Domain.Networks(who)
	out, err := viewsOf(ns, err, networkView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	n, err := decodeNetwork(r.Body)
	if err == nil {
		n, err = s.cfg.Domain.CreateNetwork(who, n)
	}
	out, err := viewOf(n, err, networkView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	n, err := s.cfg.Domain.Network(p["name"], who)
	out, err := viewOf(n, err, networkView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	noContent(w, s.cfg.Domain.DeleteNetwork(who, p["name"]))
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	gs, err := s.cfg.Domain.Groups(who)
	out, err := viewsOf(gs, err, groupView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	g, err := decodeGroup(r.Body)
	if err == nil {
		g, err = s.cfg.Domain.CreateGroup(who, g)
	}
	out, err := viewOf(g, err, groupView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	g, err := s.cfg.Domain.Group(p["name"], who)
	out, err := viewOf(g, err, groupView)
	answer(w, http.StatusOK, out, err)
}

// putGroup looks the group up before decoding, so another tenant's group
// is a 404 whatever the body.
func (s *Server) putGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	_, err := s.cfg.Domain.Group(p["name"], who)
	var g netcfg.SecurityGroup
	if err == nil {
		g, err = decodeGroup(r.Body)
	}
	if err == nil {
		g, err = s.cfg.Domain.PutGroup(who, p["name"], g)
	}
	out, err := viewOf(g, err, groupView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	noContent(w, s.cfg.Domain.DeleteGroup(who, p["name"]))
}

func (s *Server) listForwards(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	fs, err := s.cfg.Domain.Forwards(who)
	out, err := viewsOf(fs, err, forwardView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) getForward(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	f, err := s.cfg.Domain.Forward(p["id"], who)
	out, err := viewOf(f, err, forwardView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) createForward(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, err := decodeForward(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	f, err := s.cfg.Domain.CreateForward(who, q.Instance, netcfg.Proto(q.Proto), q.PublicPort, q.Port)
	out, err := viewOf(f, err, forwardView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) deleteForward(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	noContent(w, s.cfg.Domain.DeleteForward(who, p["id"]))
}

func (s *Server) listPublicIPs(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	ps, err := s.cfg.Domain.PublicIPs(who)
	out, err := viewsOf(ps, err, publicIPView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) getPublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	pip, err := s.cfg.Domain.PublicIP(p["address"], who)
	out, err := viewOf(pip, err, publicIPView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) allocatePublicIP(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, err := decodePublicIP(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	pip, err := s.cfg.Domain.AllocatePublicIP(who, q.Instance)
	out, err := viewOf(pip, err, publicIPView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) releasePublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	noContent(w, s.cfg.Domain.ReleasePublicIP(who, p["address"]))
}

func (s *Server) associatePublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	// Another tenant's address is a 404 whatever the body.
	if _, err := s.cfg.Domain.PublicIP(p["address"], who); err != nil {
		fail(w, err)
		return
	}
	q, err := decodeAssociation(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	pip, err := s.cfg.Domain.AssociatePublicIP(who, p["address"], q.Instance, q.Reassociate)
	out, err := viewOf(pip, err, publicIPView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) disassociatePublicIP(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	pip, err := s.cfg.Domain.DisassociatePublicIP(who, p["address"])
	out, err := viewOf(pip, err, publicIPView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) listKeyPairs(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	ks, err := s.cfg.Domain.KeyPairs(who)
	out, err := viewsOf(ks, err, keyPairView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) getKeyPair(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	k, err := s.cfg.Domain.KeyPair(p["name"], who)
	out, err := viewOf(k, err, keyPairView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) importKeyPair(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	k, err := decodeKeyPair(r.Body)
	if err == nil {
		k, err = s.cfg.Domain.ImportKeyPair(who, k)
	}
	out, err := viewOf(k, err, keyPairView)
	answer(w, http.StatusCreated, out, err)
}

func (s *Server) deleteKeyPair(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	noContent(w, s.cfg.Domain.DeleteKeyPair(who, p["name"]))
}
