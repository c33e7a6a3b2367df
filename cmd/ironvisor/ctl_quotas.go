package main

import (
	"flag"
	"strconv"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// quotaCols are the columns of "ctl quotas get".
var quotaCols = []string{"networks", "security_groups", "rules_per_group", "tokens", "instances",
	"public_ips", "port_forwards", "key_pairs", "volume_bytes"}

// quotas runs "ctl quotas get TENANT" and "ctl quotas set TENANT
// [--networks N ...]": a flag left out keeps its limit.
func (x *ctlCtx) quotas(verb string, args []string) error {
	var q apiv1.QuotasRequest
	define := func(fs *flag.FlagSet) {
		for name, dst := range map[string]**int{"networks": &q.Networks, "security-groups": &q.SecurityGroups,
			"rules-per-group": &q.RulesPerGroup, "tokens": &q.Tokens, "instances": &q.Instances,
			"public-ips": &q.PublicIPs, "port-forwards": &q.PortForwards, "key-pairs": &q.KeyPairs} {
			fs.Func(name, "limit of "+name, func(s string) error {
				v, err := strconv.Atoi(s)
				*dst = &v
				return err
			})
		}
		fs.Func("volume-bytes", "limit of the root volumes' bytes", func(s string) error {
			v, err := strconv.ParseInt(s, 10, 64)
			q.VolumeBytes = &v
			return err
		})
	}
	var pos []string
	var err error
	var raw []byte
	switch verb {
	case "get":
		if pos, err = x.sub(verb, args, 1, nil); err == nil {
			raw, err = x.call("GET /v1/tenants/{id}/quotas", pos, nil, nil)
		}
	case "set":
		if pos, err = x.sub(verb, args, 1, define); err == nil {
			raw, err = x.call("PUT /v1/tenants/{id}/quotas", pos, nil, q)
		}
	default:
		return usageError("quotas: get TENANT or set TENANT [--LIMIT N ...]")
	}
	if err != nil {
		return err
	}
	return x.print(raw, quotaCols)
}
