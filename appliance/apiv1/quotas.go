package apiv1

import "context"

// Quotas are a tenant's limits (EC2's service quotas): what it may hold
// at once. A limit of 0 allows none.
type Quotas struct {
	Networks       int   `json:"networks"`
	SecurityGroups int   `json:"security_groups"`
	RulesPerGroup  int   `json:"rules_per_group"`
	Tokens         int   `json:"tokens"`
	Instances      int   `json:"instances"`
	PublicIPs      int   `json:"public_ips"`
	PortForwards   int   `json:"port_forwards"`
	KeyPairs       int   `json:"key_pairs"`
	VolumeBytes    int64 `json:"volume_bytes"`
}

// QuotasRequest is the body of PUT /v1/tenants/{id}/quotas: the limits to
// change; those left out keep their value.
type QuotasRequest struct {
	Networks       *int   `json:"networks,omitempty"`
	SecurityGroups *int   `json:"security_groups,omitempty"`
	RulesPerGroup  *int   `json:"rules_per_group,omitempty"`
	Tokens         *int   `json:"tokens,omitempty"`
	Instances      *int   `json:"instances,omitempty"`
	PublicIPs      *int   `json:"public_ips,omitempty"`
	PortForwards   *int   `json:"port_forwards,omitempty"`
	KeyPairs       *int   `json:"key_pairs,omitempty"`
	VolumeBytes    *int64 `json:"volume_bytes,omitempty"`
}

// Apply returns q with the limits of r set.
func (r QuotasRequest) Apply(q Quotas) Quotas {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&q.Networks, r.Networks)
	set(&q.SecurityGroups, r.SecurityGroups)
	set(&q.RulesPerGroup, r.RulesPerGroup)
	set(&q.Tokens, r.Tokens)
	set(&q.Instances, r.Instances)
	set(&q.PublicIPs, r.PublicIPs)
	set(&q.PortForwards, r.PortForwards)
	set(&q.KeyPairs, r.KeyPairs)
	if r.VolumeBytes != nil {
		q.VolumeBytes = *r.VolumeBytes
	}
	return q
}

// Quotas returns tenant's quotas.
func (c *Client) Quotas(ctx context.Context, tenant string) (Quotas, error) {
	return call[Quotas](ctx, c, "GET /v1/tenants/{id}/quotas", nil, tenant)
}

// SetQuotas changes tenant's quotas (admin) and returns them all.
func (c *Client) SetQuotas(ctx context.Context, tenant string, q QuotasRequest) (Quotas, error) {
	return call[Quotas](ctx, c, "PUT /v1/tenants/{id}/quotas", q, tenant)
}
