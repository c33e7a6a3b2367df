package ec2

import (
	"errors"
	"slices"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
)

// Elastic IPs over the core's public IPs, with EC2-VPC's semantics:
// AllocateAddress holds an address of the pool for the tenant (the
// core's held public IP); AssociateAddress maps it onto an instance
// (AllowReassociation moves it from another); DisassociateAddress unmaps
// it and the tenant keeps it; ReleaseAddress gives it back to the pool,
// refused while it is associated (InvalidIPAddress.InUse). Terminating
// an instance disassociates its Elastic IP.

// addressByID returns c's tenant's public IP whose allocation ID,
// association ID (while associated) or address is id.
func (s *Server) addressByID(c call, id string) (domain.PublicIP, error) {
	ps, err := s.cfg.Domain.PublicIPs(c.who)
	if err != nil {
		return domain.PublicIP{}, err
	}
	for _, p := range ps {
		a := p.Address.String()
		if allocationID(c.who.TenantID, a) == id || a == id ||
			(p.Instance != "" && associationID(c.who.TenantID, a, p.Instance) == id) {
			return p, nil
		}
	}
	return domain.PublicIP{}, newError(addressObj.notFound, "The allocation ID '%s' does not exist", trim(id, 64))
}

// oneOf returns the first of the parameters names that is set.
func (p params) oneOf(names ...string) (string, error) {
	for _, n := range names {
		if v := p.str(n); v != "" {
			return v, nil
		}
	}
	return "", missing(names[0])
}

type addressItem struct {
	PublicIP      string    `xml:"publicIp"`
	AllocationID  string    `xml:"allocationId"`
	AssociationID string    `xml:"associationId,omitempty"`
	Domain        string    `xml:"domain"`
	InstanceID    string    `xml:"instanceId,omitempty"`
	PrivateIP     string    `xml:"privateIpAddress,omitempty"`
	OwnerID       string    `xml:"networkInterfaceOwnerId"`
	Tags          []tagItem `xml:"tagSet>item"`
}

type addressesResponse struct {
	head
	Addresses []addressItem `xml:"addressesSet>item"`
}

func (s *Server) describeAddresses(c call) (any, error) {
	ids, err := c.p.list("AllocationId")
	if err != nil {
		return nil, err
	}
	ips, err := c.p.list("PublicIp")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	for _, id := range append(ids, ips...) {
		if _, err := s.addressByID(c, id); err != nil {
			return nil, err
		}
	}
	ps, err := s.cfg.Domain.PublicIPs(c.who)
	if err != nil {
		return nil, err
	}
	tagged, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	t := c.who.TenantID
	out := &addressesResponse{Addresses: []addressItem{}}
	for _, p := range ps {
		a := p.Address.String()
		it := addressItem{PublicIP: a, AllocationID: allocationID(t, a), Domain: "vpc",
			InstanceID: p.Instance, OwnerID: t, Tags: tagItems(tagged[allocationID(t, a)])}
		if p.Instance != "" {
			it.AssociationID = associationID(t, a, p.Instance)
		}
		if len(ids)+len(ips) > 0 && !slices.Contains(ids, it.AllocationID) && !slices.Contains(ips, a) {
			continue
		}
		if in, err := s.cfg.Orch.Instance(p.Instance, c.who); err == nil && len(in.IPs) > 0 {
			it.PrivateIP = in.IPs[0]
		}
		ok, err := matchAll(fs, map[string][]string{"allocation-id": {it.AllocationID}, "association-id": {it.AssociationID},
			"instance-id": {it.InstanceID}, "public-ip": {a}, "domain": {"vpc"}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Addresses = append(out.Addresses, it)
		}
	}
	return out, nil
}

type allocateResponse struct {
	head
	PublicIP     string `xml:"publicIp"`
	AllocationID string `xml:"allocationId"`
	Domain       string `xml:"domain"`
}

// allocateAddress holds an address of the pool for c's tenant, tagged
// with TagSpecification's elastic-ip tags.
func (s *Server) allocateAddress(c call) (any, error) {
	if d := c.p.str("Domain"); d != "" && d != "vpc" {
		return nil, invalidValue("Domain %q: only vpc is supported", trim(d, 16))
	}
	if c.p.str("Address") != "" || c.p.str("PublicIpv4Pool") != "" {
		return nil, newError("UnsupportedOperation", "this endpoint allocates from the host's pool: give neither Address nor PublicIpv4Pool")
	}
	p, err := s.cfg.Domain.AllocatePublicIP(c.who, "")
	if apiv1.CodeOf(err) == apiv1.LimitExceeded {
		return nil, newError("AddressLimitExceeded", "%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	a := p.Address.String()
	if err := s.tagOnCreate(c, "elastic-ip", allocationID(c.who.TenantID, a)); err != nil {
		// Bad tags leave nothing behind.
		return nil, errors.Join(err, s.cfg.Domain.ReleasePublicIP(c.who, a))
	}
	return &allocateResponse{PublicIP: a, AllocationID: allocationID(c.who.TenantID, a), Domain: "vpc"}, nil
}

type associateResponse struct {
	head
	Return        bool   `xml:"return"`
	AssociationID string `xml:"associationId"`
}

// associateAddress maps AllocationId's (or PublicIp's) address onto
// InstanceId.
func (s *Server) associateAddress(c call) (any, error) {
	id, err := c.p.oneOf("AllocationId", "PublicIp")
	if err != nil {
		return nil, err
	}
	inst, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if c.p.str("NetworkInterfaceId") != "" || c.p.str("PrivateIpAddress") != "" {
		return nil, newError("UnsupportedOperation", "associate with an InstanceId: an instance has one interface per network")
	}
	re, err := c.p.boolean("AllowReassociation")
	if err != nil {
		return nil, err
	}
	p, err := s.addressByID(c, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.owned(c, []string{inst}); err != nil {
		return nil, err
	}
	p, err = s.cfg.Domain.AssociatePublicIP(c.who, p.Address.String(), inst, re)
	switch apiv1.CodeOf(err) {
	case apiv1.InUse:
		return nil, newError("Resource.AlreadyAssociated", "%s", err.Error())
	case apiv1.AlreadyExists:
		return nil, newError("InvalidInstanceID", "%s", err.Error())
	}
	if err != nil {
		return nil, instanceObj.err(err)
	}
	return &associateResponse{Return: true, AssociationID: associationID(c.who.TenantID, p.Address.String(), p.Instance)}, nil
}

// disassociateAddress unmaps AssociationId's (or PublicIp's) address
// from its instance; the tenant keeps the address.
func (s *Server) disassociateAddress(c call) (any, error) {
	id, err := c.p.oneOf("AssociationId", "PublicIp")
	if err != nil {
		return nil, err
	}
	p, err := s.addressByID(c, id)
	if err != nil {
		return nil, newError("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", trim(id, 64))
	}
	if _, err := s.cfg.Domain.DisassociatePublicIP(c.who, p.Address.String()); err != nil {
		return nil, addressObj.err(err)
	}
	return &returnResponse{Return: true}, nil
}

// releaseAddress gives AllocationId's (or PublicIp's) address back to
// the pool; an associated address must be disassociated first.
func (s *Server) releaseAddress(c call) (any, error) {
	id, err := c.p.oneOf("AllocationId", "PublicIp")
	if err != nil {
		return nil, err
	}
	p, err := s.addressByID(c, id)
	if err != nil {
		return nil, err
	}
	if p.Instance != "" {
		return nil, newError("InvalidIPAddress.InUse", "Address %s is associated with instance %s: disassociate it first", p.Address, p.Instance)
	}
	if err := s.cfg.Domain.ReleasePublicIP(c.who, p.Address.String()); err != nil {
		return nil, addressObj.err(err)
	}
	s.cfg.Tags.Forget(c.who.TenantID, allocationID(c.who.TenantID, p.Address.String()))
	return &returnResponse{Return: true}, nil
}
