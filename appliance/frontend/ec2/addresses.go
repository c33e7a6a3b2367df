package ec2

import (
	"slices"

	"github.com/ironvisor/ironvisor/appliance/core/domain"
)

// Elastic IPs over the core's public IPs. The core binds a public IP to
// an instance when it hands one out and has no unassociated address, so
// AssociateAddress with an InstanceId and no AllocationId allocates and
// associates in one step, and DisassociateAddress and ReleaseAddress
// both give the address back to the pool. AllocateAddress alone is not
// supported until the core can hold an address for no instance.

// addressByAllocation returns c's tenant's public IP of allocation ID id.
func (s *Server) addressByAllocation(c call, id string) (domain.PublicIP, error) {
	ps, err := s.cfg.Domain.PublicIPs(c.who)
	if err != nil {
		return domain.PublicIP{}, err
	}
	for _, p := range ps {
		a := p.Address.String()
		if allocationID(c.who.TenantID, a) == id || associationID(c.who.TenantID, a) == id || a == id {
			return p, nil
		}
	}
	return domain.PublicIP{}, newError(addressObj.notFound, "The allocation ID '%s' does not exist", trim(id, 64))
}

type addressItem struct {
	PublicIP      string    `xml:"publicIp"`
	AllocationID  string    `xml:"allocationId"`
	AssociationID string    `xml:"associationId"`
	Domain        string    `xml:"domain"`
	InstanceID    string    `xml:"instanceId"`
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
		if _, err := s.addressByAllocation(c, id); err != nil {
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
		it := addressItem{PublicIP: a, AllocationID: allocationID(t, a), AssociationID: associationID(t, a), Domain: "vpc",
			InstanceID: p.Instance, OwnerID: t, Tags: tagItems(tagged[allocationID(t, a)])}
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

type associateResponse struct {
	head
	Return        bool   `xml:"return"`
	AssociationID string `xml:"associationId"`
}

// associateAddress gives InstanceId a public IP from the pool.
func (s *Server) associateAddress(c call) (any, error) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if c.p.str("AllocationId") != "" || c.p.str("PublicIp") != "" {
		return nil, newError("UnsupportedOperation", "this endpoint allocates the address on association: give InstanceId alone")
	}
	if _, err := s.owned(c, []string{id}); err != nil {
		return nil, err
	}
	p, err := s.cfg.Domain.AllocatePublicIP(c.who, id)
	if err != nil {
		return nil, instanceObj.err(err)
	}
	return &associateResponse{Return: true, AssociationID: associationID(c.who.TenantID, p.Address.String())}, nil
}

// releaseAddress gives AllocationId's (or AssociationId's, or
// PublicIp's) address back to the pool.
func (s *Server) releaseAddress(c call) (any, error) {
	id := c.p.str("AllocationId") + c.p.str("AssociationId") + c.p.str("PublicIp")
	if id == "" {
		return nil, missing("AllocationId")
	}
	p, err := s.addressByAllocation(c, id)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Domain.ReleasePublicIP(c.who, p.Address.String()); err != nil {
		return nil, addressObj.err(err)
	}
	s.cfg.Tags.Forget(c.who.TenantID, allocationID(c.who.TenantID, p.Address.String()))
	return &returnResponse{Return: true}, nil
}
