package ec2

import (
	"sort"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/core/tags"
)

// Tags: the core's tag store (package tags), on the resources of the
// caller's tenant that it can name: instances, images, security groups,
// subnets, its VPC and key pairs.

// resourceTypes maps an ID's prefix to EC2's resource type.
var resourceTypes = map[string]string{
	"i": "instance", "ami": "image", "sg": "security-group", "subnet": "subnet",
	"vpc": "vpc", "key": "key-pair", "eipalloc": "elastic-ip",
}

// resourceType returns the type of a resource ID, "" for none known.
func resourceType(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	return resourceTypes[prefix]
}

// checkResource checks that c's tenant can see resource id.
func (s *Server) checkResource(c call, id string) error {
	var err error
	switch resourceType(id) {
	case "instance":
		_, err = s.owned(c, []string{id})
	case "image":
		if _, gerr := s.cfg.Images.Get(imageRef(id)); gerr != nil {
			err = newError(imageObj.notFound, "The image id '[%s]' does not exist", trim(id, 64))
		}
	case "security-group":
		_, err = s.groupByID(c, id)
	case "subnet":
		_, err = s.networkOf(c, id)
	case "vpc":
		if id != vpcID(c.who.TenantID) {
			err = newError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", trim(id, 64))
		}
	case "key-pair":
		ks, kerr := s.cfg.Domain.KeyPairs(c.who)
		err = kerr
		found := false
		for _, k := range ks {
			found = found || keyPairID(c.who.TenantID, k.Name) == id
		}
		if err == nil && !found {
			err = newError(keyPairObj.notFound, "The key pair '%s' does not exist", trim(id, 64))
		}
	case "elastic-ip":
		_, err = s.addressByID(c, id)
	default:
		err = newError("InvalidID", "The ID '%s' is not valid", trim(id, 64))
	}
	return err
}

// tagList decodes prefix.N.Key and prefix.N.Value.
func tagList(p params, prefix string) ([]tags.Tag, error) {
	ms, err := p.members(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]tags.Tag, 0, len(ms))
	for _, m := range ms {
		out = append(out, tags.Tag{Key: m.str("Key"), Value: m.str("Value")})
	}
	return out, nil
}

// tagOnCreate applies the TagSpecification.N of a Create action whose
// resource type is rtype to the new resource id.
func (s *Server) tagOnCreate(c call, rtype, id string) error {
	specs, err := c.p.members("TagSpecification")
	if err != nil {
		return err
	}
	var ts []tags.Tag
	for _, sp := range specs {
		if sp.str("ResourceType") != rtype {
			return invalidValue("TagSpecification ResourceType %q: want %s", trim(sp.str("ResourceType"), 32), rtype)
		}
		more, err := tagList(sp, "Tag")
		if err != nil {
			return err
		}
		ts = append(ts, more...)
	}
	if len(ts) == 0 {
		return nil
	}
	return s.cfg.Tags.Set(c.who.TenantID, []string{id}, ts)
}

// taggedResources decodes and checks ResourceId.N.
func (s *Server) taggedResources(c call) ([]string, error) {
	ids, err := c.p.list("ResourceId")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	for _, id := range ids {
		if err := s.checkResource(c, id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (s *Server) createTags(c call) (any, error) {
	ids, err := s.taggedResources(c)
	if err != nil {
		return nil, err
	}
	ts, err := tagList(c.p, "Tag")
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Tags.Set(c.who.TenantID, ids, ts); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// deleteTags removes Tag.N.Key (only with Tag.N.Value when given), or
// every tag when no Tag is named.
func (s *Server) deleteTags(c call) (any, error) {
	ids, err := s.taggedResources(c)
	if err != nil {
		return nil, err
	}
	ms, err := c.p.members("Tag")
	if err != nil {
		return nil, err
	}
	var rm []tags.Removal
	for _, m := range ms {
		r := tags.Removal{Key: m.str("Key")}
		if m.has("Value") {
			v := m.str("Value")
			r.Value = &v
		}
		rm = append(rm, r)
	}
	if len(ms) == 0 {
		for _, id := range ids {
			if err := s.cfg.Tags.Forget(c.who.TenantID, id); err != nil {
				return nil, err
			}
		}
	} else if err := s.cfg.Tags.Delete(c.who.TenantID, ids, rm); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type tagDescription struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type tagsResponse struct {
	head
	Tags []tagDescription `xml:"tagSet>item"`
}

// describeTags lists the tenant's tags, filtered by resource-id,
// resource-type, key and value.
func (s *Server) describeTags(c call) (any, error) {
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	all, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := &tagsResponse{Tags: []tagDescription{}}
	for _, id := range ids {
		for _, t := range all[id] {
			d := tagDescription{ResourceID: id, ResourceType: resourceType(id), Key: t.Key, Value: t.Value}
			ok, err := matchAll(fs, map[string][]string{"resource-id": {id}, "resource-type": {d.ResourceType},
				"key": {t.Key}, "value": {t.Value}}, nil)
			if err != nil {
				return nil, err
			}
			if ok {
				out.Tags = append(out.Tags, d)
			}
		}
	}
	return out, nil
}
