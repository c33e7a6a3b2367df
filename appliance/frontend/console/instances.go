package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// instanceRow is an instance with the names its IDs stand for.
type instanceRow struct {
	lifecycle.Instance
	ImageName  string
	TenantName string
}

// instancesPage is the instance table's data.
type instancesPage struct {
	Rows   []instanceRow
	Total  int
	State  string
	Q      string
	States []lifecycle.State
}

// names maps image and tenant IDs to their names, for display; an ID
// that cannot be named stays as it is.
type names struct{ images, tenants map[string]string }

// lookupNames reads the names of images, and of tenants for the admin.
func (s *Server) lookupNames(who auth.Principal) names {
	n := names{images: map[string]string{}, tenants: map[string]string{}}
	if imgs, err := s.cfg.Images.List(); err == nil {
		for _, i := range imgs {
			n.images[i.ID] = i.Name
		}
	}
	if who.Admin {
		if ts, err := s.cfg.Auth.Tenants(); err == nil {
			for _, t := range ts {
				n.tenants[t.ID] = t.Name
			}
		}
	}
	return n
}

// row names in's image and tenant.
func (n names) row(in lifecycle.Instance) instanceRow {
	return instanceRow{Instance: in, ImageName: cmp.Or(n.images[in.Image], in.Image), TenantName: cmp.Or(n.tenants[in.TenantID], in.TenantID)}
}

// matches says row r passes the filters: its state is state (any if
// empty), and q (case-insensitive) is in its ID, image, type, network,
// tenant or an address.
func (r instanceRow) matches(state, q string) bool {
	if state != "" && string(r.State) != state {
		return false
	}
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, f := range append([]string{r.ID, r.ImageName, r.Image, r.Type.Name, r.Network, r.TenantName}, r.IPs...) {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, c *call) {
	all, err := s.cfg.Orch.Instances(c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := instancesPage{Total: len(all), State: r.URL.Query().Get("state"), Q: strings.TrimSpace(r.URL.Query().Get("q")), States: lifecycle.States}
	n := s.lookupNames(c.who)
	for _, in := range all {
		if row := n.row(in); row.matches(p.State, p.Q) {
			p.Rows = append(p.Rows, row)
		}
	}
	slices.SortFunc(p.Rows, func(a, b instanceRow) int { return b.CreateTime.Compare(a.CreateTime) })
	s.render(w, r, c, http.StatusOK, "instances", "Instances", p)
}

// launchPage is the launch form's data: what the caller may choose from.
type launchPage struct {
	Images      []images.Image
	Types       []types.Type
	Networks    []netcfg.Network
	Groups      []netcfg.SecurityGroup
	Keys        []domain.KeyPair
	MaxUserData int
	MaxCount    int
	MaxRootGiB  int
}

func (s *Server) newInstance(w http.ResponseWriter, r *http.Request, c *call) {
	p := launchPage{MaxUserData: lifecycle.MaxUserData, MaxCount: lifecycle.MaxLaunchCount, MaxRootGiB: orchestrator.MaxRootGiB}
	var errs [5]error
	p.Images, errs[0] = s.cfg.Images.List()
	p.Types, errs[1] = s.cfg.Catalog.List()
	p.Networks, errs[2] = s.cfg.Domain.Networks(c.who)
	p.Groups, errs[3] = s.cfg.Domain.Groups(c.who)
	p.Keys, errs[4] = s.cfg.Domain.KeyPairs(c.who)
	for _, err := range errs {
		if err != nil {
			s.fail(w, r, c, err)
			return
		}
	}
	s.render(w, r, c, http.StatusOK, "launch", "Launch instances", p)
}

func (s *Server) launch(w http.ResponseWriter, r *http.Request, c *call) {
	q, err := decodeLaunch(r.PostForm)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	insts, err := s.cfg.Orch.Launch(c.who, q)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	if len(insts) == 1 {
		s.done(w, r, c, Prefix+"instances/"+insts[0].ID, "Launched "+insts[0].ID+".")
		return
	}
	s.done(w, r, c, Prefix+"instances", "Launched "+itoa(len(insts))+" instances.")
}
