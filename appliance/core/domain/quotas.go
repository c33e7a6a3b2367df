package domain

import (
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/netcfg"
)

// The quota checks of the domain's creations (package quota), each in
// the transaction that creates.

// countOf returns how many of objs tenant owns.
func countOf[T any](objs []T, tenant string, owner func(T) string) int64 {
	var n int64
	for _, o := range objs {
		if owner(o) == tenant {
			n++
		}
	}
	return n
}

// checkNetworkQuota admits one more network of tenant in st.
func checkNetworkQuota(tx *store.Tx, st *netcfg.State, tenant string) error {
	l, err := quota.Get(tx, tenant)
	if err != nil {
		return err
	}
	return quota.Check("networks", countOf(st.Networks, tenant, networkTenant), 1, int64(l.Networks))
}

// checkGroupQuota admits group g of its tenant in st: one more group
// when isNew, and its rules.
func checkGroupQuota(tx *store.Tx, st *netcfg.State, g netcfg.SecurityGroup, isNew bool) error {
	l, err := quota.Get(tx, g.Tenant)
	if err != nil {
		return err
	}
	if isNew {
		if err := quota.Check("security groups", countOf(st.Groups, g.Tenant, groupTenant), 1, int64(l.SecurityGroups)); err != nil {
			return err
		}
	}
	if err := quota.Check("ingress rules of a group", 0, int64(len(g.Ingress)), int64(l.RulesPerGroup)); err != nil {
		return err
	}
	return quota.Check("egress rules of a group", 0, int64(len(g.Egress)), int64(l.RulesPerGroup))
}

// checkQuota admits one more record of tenant in bucket b (under prefix),
// against the limit limit picks.
func checkQuota(tx *store.Tx, b store.Bucket, prefix, tenant, what string, limit func(quota.Limits) int) error {
	l, err := quota.Get(tx, tenant)
	if err != nil {
		return err
	}
	n, err := quota.Count(tx, b, prefix, tenant, nil)
	if err != nil {
		return err
	}
	return quota.Check(what, n, 1, int64(limit(l)))
}
