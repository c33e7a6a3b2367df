package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
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

// decodeTenant decodes and validates a TenantRequest.
func decodeTenant(r io.Reader) (apiv1.TenantRequest, error) {
	var q apiv1.TenantRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	return q, checkName("name", q.Name)
}

// decodeLaunch decodes and validates a LaunchRequest; a missing count is 1.
func decodeLaunch(r io.Reader) (orchestrator.LaunchSpec, error) {
	var q apiv1.LaunchRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return orchestrator.LaunchSpec{}, err
	}
	count := 1
	if q.Count != nil {
		count = *q.Count
	}
	s := orchestrator.LaunchSpec{Image: q.Image, Type: q.Type, Count: count, UserData: q.UserData,
		Network: q.Network, SecurityGroups: q.SecurityGroups, KeyName: q.KeyName, HTTPTokens: q.HTTPTokens}
	if q.RootSizeGiB != nil {
		if *q.RootSizeGiB < 1 || *q.RootSizeGiB > orchestrator.MaxRootGiB {
			return s, badRequest("root_size_gib %d: must be 1..%d", *q.RootSizeGiB, orchestrator.MaxRootGiB)
		}
		s.RootSizeGiB = *q.RootSizeGiB
	}
	if count < 1 || count > lifecycle.MaxLaunchCount {
		return s, badRequest("count %d: must be 1..%d", count, lifecycle.MaxLaunchCount)
	}
	if len(q.UserData) > lifecycle.MaxUserData {
		return s, badRequest("user_data is %d bytes, limit %d", len(q.UserData), lifecycle.MaxUserData)
	}
	if err := checkName("image", q.Image); err != nil {
		return s, err
	}
	if err := types.ValidateName(q.Type); err != nil {
		return s, badRequest("type: %v", err)
	}
	if q.Network != "" {
		if err := checkName("network", q.Network); err != nil {
			return s, err
		}
	}
	if q.KeyName != "" {
		if err := checkName("key_name", q.KeyName); err != nil {
			return s, err
		}
	}
	if q.HTTPTokens != "" && q.HTTPTokens != lifecycle.HTTPTokensOptional && q.HTTPTokens != lifecycle.HTTPTokensRequired {
		return s, badRequest("http_tokens %q: must be optional or required", q.HTTPTokens)
	}
	if len(q.SecurityGroups) > 16 {
		return s, badRequest("at most 16 security_groups")
	}
	for _, g := range q.SecurityGroups {
		if err := checkName("security_groups", g); err != nil {
			return s, err
		}
	}
	return s, nil
}

// decodePatch decodes and validates a PatchRequest.
func decodePatch(r io.Reader) (apiv1.PatchRequest, error) {
	var q apiv1.PatchRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	if err := types.ValidateName(q.Type); err != nil {
		return q, badRequest("type: %v", err)
	}
	return q, nil
}

// decodeNetwork decodes a NetworkRequest into a netcfg.Network (without
// tenant and index, which the domain assigns).
func decodeNetwork(r io.Reader) (netcfg.Network, error) {
	var q apiv1.NetworkRequest
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

// decodeGroup decodes a SecurityGroupRequest into a netcfg.SecurityGroup
// (without tenant). Rule semantics are checked by netcfg's validation.
func decodeGroup(r io.Reader) (netcfg.SecurityGroup, error) {
	var q apiv1.SecurityGroupRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return netcfg.SecurityGroup{}, err
	}
	if err := checkName("name", q.Name); err != nil {
		return netcfg.SecurityGroup{}, err
	}
	if len(q.Ingress)+len(q.Egress) > MaxGroupRules {
		return netcfg.SecurityGroup{}, badRequest("at most %d rules", MaxGroupRules)
	}
	for _, rl := range append(append([]apiv1.Rule{}, q.Ingress...), q.Egress...) {
		if rl.Group != "" {
			if err := checkName("rule group", rl.Group); err != nil {
				return netcfg.SecurityGroup{}, err
			}
		}
		if strings.ContainsAny(rl.Proto, "/\x00") {
			return netcfg.SecurityGroup{}, badRequest("proto %q", rl.Proto)
		}
	}
	return netcfg.SecurityGroup{Name: q.Name, Description: q.Description, Ingress: netRules(q.Ingress), Egress: netRules(q.Egress)}, nil
}

// decodeForward decodes and checks a PortForwardRequest (ports 1 to 65535,
// tcp or udp; ports out of range fail to decode).
func decodeForward(r io.Reader) (apiv1.PortForwardRequest, error) {
	var q apiv1.PortForwardRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	if err := checkName("instance", q.Instance); err != nil {
		return q, err
	}
	if q.Proto != string(netcfg.ProtoTCP) && q.Proto != string(netcfg.ProtoUDP) {
		return q, badRequest("proto %q: want tcp or udp", q.Proto)
	}
	if q.PublicPort == 0 || q.Port == 0 {
		return q, badRequest("public_port and port must be 1 to 65535")
	}
	return q, nil
}

// decodePublicIP decodes a PublicIPRequest.
func decodePublicIP(r io.Reader) (apiv1.PublicIPRequest, error) {
	var q apiv1.PublicIPRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	if q.Instance == "" {
		return q, nil
	}
	return q, checkName("instance", q.Instance)
}

// decodeAssociation decodes a PublicIPAssociation.
func decodeAssociation(r io.Reader) (apiv1.PublicIPAssociation, error) {
	var q apiv1.PublicIPAssociation
	if err := decodeJSON(r, &q, false); err != nil {
		return q, err
	}
	return q, checkName("instance", q.Instance)
}

// decodeKeyPair decodes a KeyPairRequest and parses its key (the domain's
// ParseKeyPair: one public key in authorized_keys form).
func decodeKeyPair(r io.Reader) (domain.KeyPair, error) {
	var q apiv1.KeyPairRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return domain.KeyPair{}, err
	}
	if err := checkName("name", q.Name); err != nil {
		return domain.KeyPair{}, err
	}
	return domain.ParseKeyPair(q.Name, q.PublicKey)
}
