package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// MaxBody bounds every JSON request body. A launch is the largest: 16 KiB
// of user data, base64-encoded, plus its fields.
const MaxBody = 64 << 10

// MaxGroupRules bounds the rules of one security group.
const MaxGroupRules = 256

// errBadRequest is wrapped by every decoding error (HTTP 400).
var errBadRequest = apiv1.InvalidParameter

// badRequest returns an errBadRequest error with a message.
func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
}

// decodeJSON decodes exactly one JSON object of at most MaxBody bytes into
// v, refusing unknown fields and trailing data. An empty body is allowed
// when emptyOK.
func decodeJSON(r io.Reader, v any, emptyOK bool) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if len(b) > MaxBody {
		return badRequest("body larger than %d bytes", MaxBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("empty body: a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("decode JSON: %v", err)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

// checkName validates a user-chosen name field.
func checkName(field, name string) error {
	if err := auth.ValidateName(name); err != nil {
		return badRequest("%s: %v", field, err)
	}
	return nil
}

// TenantRequest is the body of POST /v1/tenants.
type TenantRequest struct {
	Name string `json:"name"`
}

// decodeTenant decodes and validates a TenantRequest.
func decodeTenant(r io.Reader) (TenantRequest, error) {
	var q TenantRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	return q, checkName("name", q.Name)
}

// LaunchRequest is the body of POST /v1/instances.
type LaunchRequest struct {
	Image          string   `json:"image"`
	Type           string   `json:"type"`
	Count          *int     `json:"count,omitempty"`
	UserData       []byte   `json:"user_data,omitempty"` // base64 in JSON
	Network        string   `json:"network,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	KeyName        string   `json:"key_name,omitempty"`
}

// decodeLaunch decodes and validates a LaunchRequest; a missing count is 1.
func decodeLaunch(r io.Reader) (LaunchRequest, int, error) {
	var q LaunchRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, 0, err
	}
	count := 1
	if q.Count != nil {
		count = *q.Count
	}
	if count < 1 || count > lifecycle.MaxLaunchCount {
		return q, 0, badRequest("count %d: must be 1..%d", count, lifecycle.MaxLaunchCount)
	}
	if len(q.UserData) > lifecycle.MaxUserData {
		return q, 0, badRequest("user_data is %d bytes, limit %d", len(q.UserData), lifecycle.MaxUserData)
	}
	if err := checkName("image", q.Image); err != nil {
		return q, 0, err
	}
	if err := types.ValidateName(q.Type); err != nil {
		return q, 0, badRequest("type: %v", err)
	}
	if q.Network != "" {
		if err := checkName("network", q.Network); err != nil {
			return q, 0, err
		}
	}
	if q.KeyName != "" {
		if err := checkName("key_name", q.KeyName); err != nil {
			return q, 0, err
		}
	}
	if len(q.SecurityGroups) > 16 {
		return q, 0, badRequest("at most 16 security_groups")
	}
	for _, g := range q.SecurityGroups {
		if err := checkName("security_groups", g); err != nil {
			return q, 0, err
		}
	}
	return q, count, nil
}

// PatchRequest is the body of PATCH /v1/instances/{id}.
type PatchRequest struct {
	Type string `json:"type"`
}

// decodePatch decodes and validates a PatchRequest.
func decodePatch(r io.Reader) (PatchRequest, error) {
	var q PatchRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	if err := types.ValidateName(q.Type); err != nil {
		return q, badRequest("type: %v", err)
	}
	return q, nil
}

// StopRequest is the optional body of POST /v1/instances/{id}/stop.
type StopRequest struct {
	Force bool `json:"force"`
}

// NetworkRequest is the body of POST /v1/networks.
type NetworkRequest struct {
	Name  string `json:"name"`
	CIDR  string `json:"cidr"`
	NoNAT bool   `json:"no_nat,omitempty"`
}

// decodeNetwork decodes a NetworkRequest into a netcfg.Network (without
// tenant and index, which the server assigns).
func decodeNetwork(r io.Reader) (netcfg.Network, error) {
	var q NetworkRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return netcfg.Network{}, err
	}
	if err := checkName("name", q.Name); err != nil {
		return netcfg.Network{}, err
	}
	p, err := netip.ParsePrefix(q.CIDR)
	if err != nil {
		return netcfg.Network{}, badRequest("cidr: %v", err)
	}
	return netcfg.Network{Name: q.Name, CIDR: p, NoNAT: q.NoNAT}, nil
}

// SecurityGroupRequest is the body of POST and PUT /v1/security-groups.
type SecurityGroupRequest struct {
	Name    string        `json:"name"`
	Ingress []netcfg.Rule `json:"ingress"`
	Egress  []netcfg.Rule `json:"egress"`
}

// decodeGroup decodes a SecurityGroupRequest into a netcfg.SecurityGroup
// (without tenant). Rule semantics are checked by netcfg's validation.
func decodeGroup(r io.Reader) (netcfg.SecurityGroup, error) {
	var q SecurityGroupRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return netcfg.SecurityGroup{}, err
	}
	if err := checkName("name", q.Name); err != nil {
		return netcfg.SecurityGroup{}, err
	}
	if len(q.Ingress)+len(q.Egress) > MaxGroupRules {
		return netcfg.SecurityGroup{}, badRequest("at most %d rules", MaxGroupRules)
	}
	for _, rl := range append(append([]netcfg.Rule{}, q.Ingress...), q.Egress...) {
		if rl.Group != "" {
			if err := checkName("rule group", rl.Group); err != nil {
				return netcfg.SecurityGroup{}, err
			}
		}
		if strings.ContainsAny(string(rl.Proto), "/\x00") {
			return netcfg.SecurityGroup{}, badRequest("proto %q", rl.Proto)
		}
	}
	return netcfg.SecurityGroup{Name: q.Name, Ingress: q.Ingress, Egress: q.Egress}, nil
}
