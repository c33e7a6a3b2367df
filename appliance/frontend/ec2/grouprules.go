package ec2

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ironvisor/ironvisor/netcfg"
)

// DescribeSecurityGroupRules: each rule of each group of the tenant, one
// item per core rule (one range or one peer group), with its GroupId.
// A rule's "sgr-" ID is hashed from the tenant, its group, its direction
// and what it allows, so it is stable while the rule exists; the core's
// rules carry no description or tags of their own.

// ruleID is the EC2 ID of a rule of group.
func ruleID(tenant, group string, egress bool, r netcfg.Rule) string {
	return hashID("sgr", tenant, fmt.Sprintf("%s\x00%t\x00%s\x00%d\x00%d\x00%s\x00%s",
		group, egress, r.Proto, r.FromPort, r.ToPort, r.CIDR, r.Group))
}

type referencedGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type ruleItem struct {
	RuleID       string           `xml:"securityGroupRuleId"`
	GroupID      string           `xml:"groupId"`
	GroupOwnerID string           `xml:"groupOwnerId"`
	IsEgress     bool             `xml:"isEgress"`
	Protocol     string           `xml:"ipProtocol"`
	FromPort     int              `xml:"fromPort"`
	ToPort       int              `xml:"toPort"`
	CIDRv4       string           `xml:"cidrIpv4,omitempty"`
	CIDRv6       string           `xml:"cidrIpv6,omitempty"`
	Referenced   *referencedGroup `xml:"referencedGroupInfo,omitempty"`
	Tags         []tagItem        `xml:"tagSet>item"`
}

type rulesResponse struct {
	head
	Rules     []ruleItem `xml:"securityGroupRuleSet>item"`
	NextToken string     `xml:"nextToken,omitempty"`
}

// ruleItemOf renders rule r of group g as DescribeSecurityGroupRules does.
func ruleItemOf(tenant string, g netcfg.SecurityGroup, egress bool, r netcfg.Rule) ruleItem {
	p := permission(tenant, r)
	it := ruleItem{RuleID: ruleID(tenant, g.Name, egress, r), GroupID: groupID(tenant, g.Name), GroupOwnerID: tenant,
		IsEgress: egress, Protocol: p.Protocol, FromPort: -1, ToPort: -1, Tags: []tagItem{}}
	if p.FromPort != nil {
		it.FromPort, it.ToPort = *p.FromPort, *p.ToPort
	}
	switch {
	case len(p.Groups) > 0:
		it.Referenced = &referencedGroup{GroupID: p.Groups[0].GroupID, UserID: tenant}
	case len(p.IPv6Ranges) > 0:
		it.CIDRv6 = p.IPv6Ranges[0].CIDR
	default:
		it.CIDRv4 = p.IPRanges[0].CIDR
	}
	return it
}

func (s *Server) describeSecurityGroupRules(c call) (any, error) {
	ids, fs, max, err := c.p.describeArgs("SecurityGroupRuleId")
	if err != nil {
		return nil, err
	}
	gs, err := s.cfg.Domain.Groups(c.who)
	if err != nil {
		return nil, err
	}
	t := c.who.TenantID
	var all []ruleItem
	for _, g := range gs {
		for _, r := range g.Ingress {
			all = append(all, ruleItemOf(t, g, false, r))
		}
		for _, r := range g.Egress {
			all = append(all, ruleItemOf(t, g, true, r))
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(it ruleItem) bool { return it.RuleID == id }) {
			return nil, newError("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", trim(id, 64))
		}
	}
	var items []ruleItem
	for _, it := range all {
		if len(ids) > 0 && !slices.Contains(ids, it.RuleID) {
			continue
		}
		ok, err := matchAll(fs, map[string][]string{"group-id": {it.GroupID}, "security-group-rule-id": {it.RuleID}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].RuleID < items[j].RuleID })
	page, next, err := paginate(items, c.p.str("NextToken"), max, func(it ruleItem) string { return it.RuleID })
	if err != nil {
		return nil, err
	}
	return &rulesResponse{Rules: append([]ruleItem{}, page...), NextToken: next}, nil
}
