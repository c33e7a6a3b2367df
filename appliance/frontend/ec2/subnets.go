package ec2

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/netcfg"
)

// CreateSubnet and DeleteSubnet over the core's networks. The mapping:
//
//   - the tenant's one VPC (vpcCIDR) holds all its networks; a subnet is
//     one network, its CidrBlock the network's CIDR, which must lie in
//     the VPC's block (InvalidSubnet.Range) and overlap no other network
//     on the host (InvalidSubnet.Conflict);
//   - the network is named after its block, "subnet-10-9-0-0-24", so
//     /v1 shows it under that name; its subnet ID is hashed from that
//     name (ids.go), so a subnet deleted and created again with the same
//     block has the same ID;
//   - the one zone is the only AvailabilityZone; an instance's private
//     address comes from the network's DHCP range, as on /v1;
//   - DeleteSubnet deletes the network unless an instance that is not
//     terminated is in it (DependencyViolation), and forgets its tags.

// subnetName is the network name of a subnet's block.
func subnetName(p netip.Prefix) string {
	return "subnet-" + strings.NewReplacer(".", "-", "/", "-").Replace(p.String())
}

type createSubnetResponse struct {
	head
	Subnet subnetItem `xml:"subnet"`
}

func (s *Server) createSubnet(c call) (any, error) {
	vpc, err := c.p.required("VpcId")
	if err != nil {
		return nil, err
	}
	if vpc != vpcID(c.who.TenantID) {
		return nil, newError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", trim(vpc, 64))
	}
	block, err := c.p.required("CidrBlock")
	if err != nil {
		return nil, err
	}
	p, err := netip.ParsePrefix(block)
	if err != nil || !p.Addr().Is4() || p != p.Masked() {
		return nil, newError("InvalidSubnet.Range", "The CIDR '%s' is invalid.", trim(block, 64))
	}
	if !netip.MustParsePrefix(vpcCIDR).Contains(p.Addr()) {
		return nil, newError("InvalidSubnet.Range", "The CIDR '%s' is invalid: it is not within the VPC's %s.", p, vpcCIDR)
	}
	if z := c.p.str("AvailabilityZone"); z != "" && z != s.zone() {
		return nil, invalidValue("Value (%s) for parameter availabilityZone is invalid. Subnets can only be created in %s.", trim(z, 64), s.zone())
	}
	if z := c.p.str("AvailabilityZoneId"); z != "" && z != s.zone() {
		return nil, invalidValue("Value (%s) for parameter availabilityZoneId is invalid.", trim(z, 64))
	}
	n, err := s.cfg.Domain.CreateNetwork(c.who, netcfg.Network{Name: subnetName(p), CIDR: p})
	if errors.Is(err, domain.ErrCIDRConflict) {
		return nil, newError("InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", p)
	}
	if err != nil {
		return nil, subnetObj.err(err)
	}
	id := subnetID(c.who.TenantID, n.Name)
	if err := s.tagOnCreate(c, "subnet", id); err != nil {
		// Bad tags leave nothing behind.
		return nil, errors.Join(err, s.cfg.Domain.DeleteNetwork(c.who, n.Name))
	}
	ts, err := s.cfg.Tags.Of(c.who.TenantID, id)
	if err != nil {
		return nil, err
	}
	return &createSubnetResponse{Subnet: s.subnet(c, n, ts)}, nil
}

func (s *Server) deleteSubnet(c call) (any, error) {
	id, err := c.p.required("SubnetId")
	if err != nil {
		return nil, err
	}
	name, err := s.networkOf(c, id)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Domain.DeleteNetwork(c.who, name); err != nil {
		e := subnetObj.err(err)
		var ee *ec2Error
		if errors.As(e, &ee) && ee.Code == subnetObj.inUse {
			return nil, newError(subnetObj.inUse, "The subnet '%s' has dependencies and cannot be deleted: %v", id, err)
		}
		return nil, e
	}
	s.cfg.Tags.Forget(c.who.TenantID, id)
	return &returnResponse{Return: true}, nil
}
