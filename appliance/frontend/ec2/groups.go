package ec2

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Security groups: the core's, named per tenant; EC2's sg- IDs are
// hashed from the tenant and name (ids.go). A rule is an IpPermission
// with one range or one peer group.

// groupByID returns the name of c's tenant's group id.
func (s *Server) groupByID(c call, id string) (string, error) {
	gs, err := s.cfg.Domain.Groups(c.who)
	if err != nil {
		return "", err
	}
	for _, g := range gs {
		if groupID(c.who.TenantID, g.Name) == id {
			return g.Name, nil
		}
	}
	return "", newError(groupObj.notFound, "The security group '%s' does not exist", trim(id, 64))
}

// groupNames returns the group names of idList.N (IDs) and nameList.N.
func (s *Server) groupNames(c call, idList, nameList string) ([]string, error) {
	ids, err := c.p.list(idList)
	if err != nil {
		return nil, err
	}
	names, err := c.p.list(nameList)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		n, err := s.groupByID(c, id)
		if err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, nil
}

// groupOf returns the group GroupId or GroupName names.
func (s *Server) groupOf(c call) (string, error) {
	if id := c.p.str("GroupId"); id != "" {
		return s.groupByID(c, id)
	}
	if n := c.p.str("GroupName"); n != "" {
		return n, nil
	}
	return "", missing("GroupId")
}

type createGroupResponse struct {
	head
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// allEgress is the egress rule EC2 gives every new group.
var allEgress = netcfg.Rule{Proto: netcfg.ProtoAll, CIDR: netip.MustParsePrefix("0.0.0.0/0")}

func (s *Server) createSecurityGroup(c call) (any, error) {
	name, err := c.p.required("GroupName")
	if err != nil {
		return nil, err
	}
	if err := auth.ValidateName(name); err != nil {
		return nil, invalidValue("GroupName: %v", err)
	}
	desc, err := c.p.required("GroupDescription")
	if err != nil {
		return nil, err
	}
	if v := c.p.str("VpcId"); v != "" && v != vpcID(c.who.TenantID) {
		return nil, newError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", trim(v, 64))
	}
	g, err := s.cfg.Domain.CreateGroup(c.who, netcfg.SecurityGroup{Name: name, Description: desc, Egress: []netcfg.Rule{allEgress}})
	if err != nil {
		return nil, groupObj.err(err)
	}
	if err := s.tagOnCreate(c, "security-group", groupID(c.who.TenantID, g.Name)); err != nil {
		return nil, err
	}
	return &createGroupResponse{Return: true, GroupID: groupID(c.who.TenantID, g.Name)}, nil
}

func (s *Server) deleteSecurityGroup(c call) (any, error) {
	name, err := s.groupOf(c)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Domain.DeleteGroup(c.who, name); err != nil {
		return nil, groupObj.err(err)
	}
	s.cfg.Tags.Forget(c.who.TenantID, groupID(c.who.TenantID, name))
	return &returnResponse{Return: true}, nil
}

type ipRange struct {
	CIDR string `xml:"cidrIp"`
}

type ipv6Range struct {
	CIDR string `xml:"cidrIpv6"`
}

type userGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type ipPermission struct {
	Protocol   string      `xml:"ipProtocol"`
	FromPort   *int        `xml:"fromPort,omitempty"`
	ToPort     *int        `xml:"toPort,omitempty"`
	Groups     []userGroup `xml:"groups>item"`
	IPRanges   []ipRange   `xml:"ipRanges>item"`
	IPv6Ranges []ipv6Range `xml:"ipv6Ranges>item"`
}

type groupItem struct {
	OwnerID     string         `xml:"ownerId"`
	GroupID     string         `xml:"groupId"`
	GroupName   string         `xml:"groupName"`
	Description string         `xml:"groupDescription"`
	VpcID       string         `xml:"vpcId"`
	Ingress     []ipPermission `xml:"ipPermissions>item"`
	Egress      []ipPermission `xml:"ipPermissionsEgress>item"`
	Tags        []tagItem      `xml:"tagSet>item"`
}

type groupsResponse struct {
	head
	Groups []groupItem `xml:"securityGroupInfo>item"`
}

// permission renders a core rule.
func permission(tenant string, r netcfg.Rule) ipPermission {
	p := ipPermission{Protocol: string(r.Proto), Groups: []userGroup{}, IPRanges: []ipRange{}, IPv6Ranges: []ipv6Range{}}
	from, to := int(r.FromPort), int(r.ToPort)
	switch r.Proto {
	case netcfg.ProtoAll:
		p.Protocol = "-1"
	case netcfg.ProtoICMP:
		from, to = -1, -1
		p.FromPort, p.ToPort = &from, &to
	default:
		if from == 0 && to == 0 {
			to = 65535
		}
		p.FromPort, p.ToPort = &from, &to
	}
	switch {
	case r.Group != "":
		p.Groups = append(p.Groups, userGroup{GroupID: groupID(tenant, r.Group), UserID: tenant})
	case r.CIDR.Addr().Is6():
		p.IPv6Ranges = append(p.IPv6Ranges, ipv6Range{CIDR: r.CIDR.String()})
	default:
		p.IPRanges = append(p.IPRanges, ipRange{CIDR: r.CIDR.String()})
	}
	return p
}

func (s *Server) describeSecurityGroups(c call) (any, error) {
	want, err := s.groupNames(c, "GroupId", "GroupName")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	gs, err := s.cfg.Domain.Groups(c.who)
	if err != nil {
		return nil, err
	}
	for _, n := range want {
		if !slices.ContainsFunc(gs, func(g netcfg.SecurityGroup) bool { return g.Name == n }) {
			return nil, newError(groupObj.notFound, "The security group '%s' does not exist", trim(n, 64))
		}
	}
	tagged, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	t := c.who.TenantID
	out := &groupsResponse{Groups: []groupItem{}}
	for _, g := range gs {
		if len(want) > 0 && !slices.Contains(want, g.Name) {
			continue
		}
		it := groupItem{OwnerID: t, GroupID: groupID(t, g.Name), GroupName: g.Name, Description: g.Description, VpcID: vpcID(t),
			Ingress: []ipPermission{}, Egress: []ipPermission{}, Tags: tagItems(tagged[groupID(t, g.Name)])}
		for _, r := range g.Ingress {
			it.Ingress = append(it.Ingress, permission(t, r))
		}
		for _, r := range g.Egress {
			it.Egress = append(it.Egress, permission(t, r))
		}
		ok, err := matchAll(fs, map[string][]string{"group-id": {it.GroupID}, "group-name": {g.Name},
			"vpc-id": {it.VpcID}, "owner-id": {t}, "description": {it.Description}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Groups = append(out.Groups, it)
		}
	}
	return out, nil
}

// rules decodes IpPermissions.N (or the flat IpProtocol, FromPort,
// ToPort, CidrIp form) into core rules, one per range or peer group.
func (s *Server) rules(c call) ([]netcfg.Rule, error) {
	perms, err := c.p.members("IpPermissions")
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 && c.p.has("IpProtocol") {
		flat := params{"IpProtocol": c.p.str("IpProtocol"), "FromPort": c.p.str("FromPort"), "ToPort": c.p.str("ToPort")}
		if cidr := c.p.str("CidrIp"); cidr != "" {
			flat["IpRanges.1.CidrIp"] = cidr
		}
		perms = []params{flat}
	}
	var out []netcfg.Rule
	for _, p := range perms {
		base, err := ruleBase(p)
		if err != nil {
			return nil, err
		}
		ranges, err := p.members("IpRanges")
		if err != nil {
			return nil, err
		}
		v6, err := p.members("Ipv6Ranges")
		if err != nil {
			return nil, err
		}
		for _, r := range append(ranges, v6...) {
			cidr := r.str("CidrIp") + r.str("CidrIpv6")
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil {
				return nil, invalidValue("CIDR %q: %v", trim(cidr, 64), err)
			}
			rl := base
			rl.CIDR = pfx.Masked()
			out = append(out, rl)
		}
		groups, err := p.members("Groups")
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			name := g.str("GroupName")
			if id := g.str("GroupId"); id != "" {
				if name, err = s.groupByID(c, id); err != nil {
					return nil, err
				}
			}
			rl := base
			rl.Group = name
			out = append(out, rl)
		}
		if len(ranges)+len(v6)+len(groups) == 0 {
			return nil, invalidValue("an IpPermission names no IpRanges, Ipv6Ranges or Groups")
		}
	}
	if len(out) == 0 {
		return nil, missing("IpPermissions")
	}
	return out, nil
}

// ruleBase decodes an IpPermission's protocol and ports.
func ruleBase(p params) (netcfg.Rule, error) {
	var r netcfg.Rule
	switch proto := p.str("IpProtocol"); proto {
	case "-1", "all":
		r.Proto = netcfg.ProtoAll
		return r, nil
	case "icmp", "1":
		r.Proto = netcfg.ProtoICMP
		return r, nil
	case "tcp", "6":
		r.Proto = netcfg.ProtoTCP
	case "udp", "17":
		r.Proto = netcfg.ProtoUDP
	default:
		return r, invalidValue("IpProtocol %q: want tcp, udp, icmp or -1", trim(proto, 16))
	}
	from, err1 := strconv.Atoi(p.str("FromPort"))
	to, err2 := strconv.Atoi(p.str("ToPort"))
	if err1 != nil || err2 != nil || from < 0 || to > 65535 || from > to {
		return r, invalidValue("FromPort and ToPort: want 0 to 65535, from no more than to")
	}
	if from == 0 && to == 65535 {
		from, to = 0, 0
	}
	r.FromPort, r.ToPort = uint16(from), uint16(to)
	return r, nil
}

// changeRules adds (or removes) the request's rules to a group's ingress
// (or egress) through the core's PutGroup.
func (s *Server) changeRules(c call, egress, add bool) (any, error) {
	name, err := s.groupOf(c)
	if err != nil {
		return nil, err
	}
	g, err := s.cfg.Domain.Group(name, c.who)
	if err != nil {
		return nil, groupObj.err(err)
	}
	rs, err := s.rules(c)
	if err != nil {
		return nil, err
	}
	list := &g.Ingress
	if egress {
		list = &g.Egress
	}
	for _, r := range rs {
		i := slices.Index(*list, r)
		switch {
		case add && i >= 0:
			return nil, newError("InvalidPermission.Duplicate", "the specified rule already exists in group %s", name)
		case add:
			*list = append(*list, r)
		case i < 0:
			return nil, newError("InvalidPermission.NotFound", "the specified rule does not exist in group %s", name)
		default:
			*list = slices.Delete(*list, i, i+1)
		}
	}
	if _, err := s.cfg.Domain.PutGroup(c.who, name, g); err != nil {
		return nil, groupObj.err(err)
	}
	return &returnResponse{Return: true}, nil
}

func (s *Server) authorizeIngress(c call) (any, error) { return s.changeRules(c, false, true) }
func (s *Server) authorizeEgress(c call) (any, error)  { return s.changeRules(c, true, true) }
func (s *Server) revokeIngress(c call) (any, error)    { return s.changeRules(c, false, false) }
func (s *Server) revokeEgress(c call) (any, error)     { return s.changeRules(c, true, false) }
