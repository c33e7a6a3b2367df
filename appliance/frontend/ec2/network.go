package ec2

import (
	"net/netip"
	"slices"

	"github.com/ironvisor/ironvisor/appliance/core/tags"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Networks as a VPC and subnets: each tenant has one VPC, and each of its
// networks is a subnet of it (CreateSubnet and DeleteSubnet: subnets.go).
// An instance launched without SubnetId has no network (the core's
// default), and is reported without a subnet.

// networkOf returns the network of c's tenant's subnet id.
func (s *Server) networkOf(c call, id string) (string, error) {
	ns, err := s.cfg.Domain.Networks(c.who)
	if err != nil {
		return "", err
	}
	for _, n := range ns {
		if subnetID(c.who.TenantID, n.Name) == id {
			return n.Name, nil
		}
	}
	return "", newError(subnetObj.notFound, "The subnet ID '%s' does not exist", trim(id, 64))
}

// vpcCIDR is the block the tenant's VPC reports: the private space its
// networks are drawn from.
const vpcCIDR = "10.0.0.0/8"

type vpcItem struct {
	VpcID     string    `xml:"vpcId"`
	OwnerID   string    `xml:"ownerId"`
	State     string    `xml:"state"`
	CIDR      string    `xml:"cidrBlock"`
	DHCP      string    `xml:"dhcpOptionsId"`
	Tenancy   string    `xml:"instanceTenancy"`
	IsDefault bool      `xml:"isDefault"`
	Tags      []tagItem `xml:"tagSet>item"`
}

type vpcsResponse struct {
	head
	Vpcs []vpcItem `xml:"vpcSet>item"`
}

func (s *Server) describeVpcs(c call) (any, error) {
	ids, err := c.p.list("VpcId")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	id := vpcID(c.who.TenantID)
	for _, want := range ids {
		if want != id {
			return nil, newError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", trim(want, 64))
		}
	}
	ts, err := s.cfg.Tags.Of(c.who.TenantID, id)
	if err != nil {
		return nil, err
	}
	it := vpcItem{VpcID: id, OwnerID: c.who.TenantID, State: "available", CIDR: vpcCIDR, DHCP: "default",
		Tenancy: "default", IsDefault: true, Tags: tagItems(ts)}
	out := &vpcsResponse{Vpcs: []vpcItem{}}
	ok, err := matchAll(fs, map[string][]string{"vpc-id": {id}, "is-default": {"true"}, "isDefault": {"true"}, "state": {"available"},
		"cidr": {vpcCIDR}, "owner-id": {c.who.TenantID}}, it.Tags)
	if err != nil {
		return nil, err
	}
	if ok {
		out.Vpcs = append(out.Vpcs, it)
	}
	return out, nil
}

type subnetItem struct {
	SubnetID     string    `xml:"subnetId"`
	State        string    `xml:"state"`
	VpcID        string    `xml:"vpcId"`
	OwnerID      string    `xml:"ownerId"`
	CIDR         string    `xml:"cidrBlock"`
	Available    int       `xml:"availableIpAddressCount"`
	Zone         string    `xml:"availabilityZone"`
	ZoneID       string    `xml:"availabilityZoneId"`
	DefaultForAz bool      `xml:"defaultForAz"`
	MapPublicIP  bool      `xml:"mapPublicIpOnLaunch"`
	Tags         []tagItem `xml:"tagSet>item"`
}

type subnetsResponse struct {
	head
	Subnets []subnetItem `xml:"subnetSet>item"`
}

// addresses is how many guest addresses a network offers: all but the
// network, gateway and broadcast addresses.
func addresses(p netip.Prefix) int {
	bits := p.Addr().BitLen() - p.Bits()
	if bits > 30 {
		return 1 << 30
	}
	return max(0, 1<<bits-3)
}

// subnet is network n of c's tenant as a subnet.
func (s *Server) subnet(c call, n netcfg.Network, ts []tags.Tag) subnetItem {
	return subnetItem{SubnetID: subnetID(c.who.TenantID, n.Name), State: "available", VpcID: vpcID(c.who.TenantID),
		OwnerID: c.who.TenantID, CIDR: n.CIDR.String(), Available: addresses(n.CIDR), Zone: s.zone(), ZoneID: s.zone(),
		Tags: tagItems(ts)}
}

func (s *Server) describeSubnets(c call) (any, error) {
	ids, err := c.p.list("SubnetId")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	ns, err := s.cfg.Domain.Networks(c.who)
	if err != nil {
		return nil, err
	}
	tagged, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	byID := map[string]netcfg.Network{}
	for _, n := range ns {
		byID[subnetID(c.who.TenantID, n.Name)] = n
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return nil, newError(subnetObj.notFound, "The subnet ID '%s' does not exist", trim(id, 64))
		}
	}
	out := &subnetsResponse{Subnets: []subnetItem{}}
	for _, n := range ns {
		id := subnetID(c.who.TenantID, n.Name)
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		it := s.subnet(c, n, tagged[id])
		ok, err := matchAll(fs, map[string][]string{"subnet-id": {id}, "vpc-id": {it.VpcID}, "cidr-block": {it.CIDR},
			"availability-zone": {it.Zone}, "state": {it.State}, "owner-id": {it.OwnerID}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Subnets = append(out.Subnets, it)
		}
	}
	return out, nil
}
