package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Networks, security groups, port forwards and public IPs: each page
// lists what the caller may see, and each form calls the domain.

// listPage is a list of the caller's objects, with the instances a form
// may name and the tenant names the admin sees.
type listPage[T any] struct {
	Items     []T
	Instances []lifecycle.Instance
	Tenants   map[string]string
}

// tenantNames maps tenant IDs to names for the admin; nil for a tenant.
func (s *Server) tenantNames(c *call) map[string]string {
	if !c.who.Admin {
		return nil
	}
	return s.lookupNames(c.who).tenants
}

// list renders page name over items, or err.
func list[T any](s *Server, w http.ResponseWriter, r *http.Request, c *call, name, title string, items []T, err error, withInstances bool) {
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := listPage[T]{Items: items, Tenants: s.tenantNames(c)}
	if withInstances {
		if p.Instances, err = s.cfg.Orch.Instances(c.who); err != nil {
			s.fail(w, r, c, err)
			return
		}
	}
	s.render(w, r, c, http.StatusOK, name, title, p)
}

// finish ends a form: err is shown, else the browser goes to to with msg.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, c *call, err error, to, msg string) {
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.done(w, r, c, to, msg)
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request, c *call) {
	ns, err := s.cfg.Domain.Networks(c.who)
	list(s, w, r, c, "networks", "Networks", ns, err, false)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request, c *call) {
	n, err := decodeNetwork(r.PostForm)
	if err == nil {
		n, err = s.cfg.Domain.CreateNetwork(c.who, n)
	}
	s.finish(w, r, c, err, Prefix+"networks", "Network "+n.Name+" created.")
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request, c *call) {
	n := r.PathValue("name")
	s.finish(w, r, c, s.cfg.Domain.DeleteNetwork(c.who, n), Prefix+"networks", "Network "+n+" deleted.")
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, c *call) {
	gs, err := s.cfg.Domain.Groups(c.who)
	list(s, w, r, c, "groups", "Security groups", gs, err, false)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, c *call) {
	n, err := name(r.PostForm, "name", false)
	var g netcfg.SecurityGroup
	if err == nil {
		g, err = s.cfg.Domain.CreateGroup(c.who, netcfg.SecurityGroup{Name: n})
	}
	s.finish(w, r, c, err, Prefix+"security-groups/"+url.PathEscape(g.Name), "Security group "+n+" created: add its rules.")
}

// ruleRow is one row of the rule editor.
type ruleRow struct {
	Dir, Proto, Ports, Peer string
}

// groupPage is the rule editor's data.
type groupPage struct {
	Group netcfg.SecurityGroup
	Rows  []ruleRow
	// Protos are the choices of the proto field; "" removes the row.
	Protos []netcfg.Proto
}

// blankRules is how many empty rows the editor offers for new rules.
const blankRules = 3

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, c *call) {
	g, err := s.cfg.Domain.Group(r.PathValue("name"), c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := groupPage{Group: g, Protos: []netcfg.Proto{netcfg.ProtoTCP, netcfg.ProtoUDP, netcfg.ProtoICMP, netcfg.ProtoAll}}
	for dir, rules := range map[string][]netcfg.Rule{"ingress": g.Ingress, "egress": g.Egress} {
		for _, rl := range rules {
			p.Rows = append(p.Rows, ruleRow{Dir: dir, Proto: string(rl.Proto), Ports: portsOf(rl), Peer: peerOf(rl)})
		}
	}
	sortRows(p.Rows)
	for range blankRules {
		p.Rows = append(p.Rows, ruleRow{Dir: "ingress"})
	}
	s.render(w, r, c, http.StatusOK, "group", "Security group "+g.Name, p)
}

// sortRows puts ingress rows before egress ones, each in the group's
// order (a stable sort of the map's random iteration).
func sortRows(rows []ruleRow) {
	var in, eg []ruleRow
	for _, r := range rows {
		if r.Dir == "ingress" {
			in = append(in, r)
		} else {
			eg = append(eg, r)
		}
	}
	copy(rows, append(in, eg...))
}

// putGroup replaces the group's rules with the editor's rows. The group
// is looked up first, so another tenant's is a 404 whatever the form.
func (s *Server) putGroup(w http.ResponseWriter, r *http.Request, c *call) {
	g, err := s.cfg.Domain.Group(r.PathValue("name"), c.who)
	if err == nil {
		g.Ingress, g.Egress, err = decodeRules(r.PostForm)
	}
	if err == nil {
		g, err = s.cfg.Domain.PutGroup(c.who, g.Name, netcfg.SecurityGroup{Name: g.Name, Ingress: g.Ingress, Egress: g.Egress})
	}
	s.finish(w, r, c, err, Prefix+"security-groups/"+url.PathEscape(g.Name), "Rules of "+g.Name+" saved.")
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, c *call) {
	n := r.PathValue("name")
	s.finish(w, r, c, s.cfg.Domain.DeleteGroup(c.who, n), Prefix+"security-groups", "Security group "+n+" deleted.")
}

func (s *Server) listForwards(w http.ResponseWriter, r *http.Request, c *call) {
	fs, err := s.cfg.Domain.Forwards(c.who)
	list(s, w, r, c, "forwards", "Port forwards", fs, err, true)
}

func (s *Server) createForward(w http.ResponseWriter, r *http.Request, c *call) {
	f := r.PostForm
	inst, err := name(f, "instance", false)
	var pub, port int
	if err == nil {
		pub, err = number(f, "public_port", 0, 1, 65535)
	}
	if err == nil {
		port, err = number(f, "port", 0, 1, 65535)
	}
	proto := netcfg.Proto(strings.TrimSpace(f.Get("proto")))
	if err == nil && proto != netcfg.ProtoTCP && proto != netcfg.ProtoUDP {
		err = badForm("proto %q: want tcp or udp", proto)
	}
	var fw domain.PortForward
	if err == nil {
		fw, err = s.cfg.Domain.CreateForward(c.who, inst, proto, uint16(pub), uint16(port))
	}
	s.finish(w, r, c, err, Prefix+"port-forwards", "Port forward "+fw.ID+" created.")
}

func (s *Server) deleteForward(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	s.finish(w, r, c, s.cfg.Domain.DeleteForward(c.who, id), Prefix+"port-forwards", "Port forward "+id+" deleted.")
}

func (s *Server) listPublicIPs(w http.ResponseWriter, r *http.Request, c *call) {
	ps, err := s.cfg.Domain.PublicIPs(c.who)
	list(s, w, r, c, "publicips", "Public IPs", ps, err, true)
}

func (s *Server) allocatePublicIP(w http.ResponseWriter, r *http.Request, c *call) {
	inst, err := name(r.PostForm, "instance", false)
	var p domain.PublicIP
	if err == nil {
		p, err = s.cfg.Domain.AllocatePublicIP(c.who, inst)
	}
	s.finish(w, r, c, err, Prefix+"public-ips", "Public IP "+p.Address.String()+" given to "+inst+".")
}

func (s *Server) releasePublicIP(w http.ResponseWriter, r *http.Request, c *call) {
	a := r.PathValue("address")
	s.finish(w, r, c, s.cfg.Domain.ReleasePublicIP(c.who, a), Prefix+"public-ips", "Public IP "+a+" released.")
}
