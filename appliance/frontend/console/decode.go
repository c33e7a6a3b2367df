package console

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Forms are decoded into the core's types here, and checked only as far
// as their shape goes (names, numbers); what they mean (does the image
// exist, does the rule make sense) is the core's to say.

// maxRules bounds the rule rows of one security-group form, as the API
// bounds a group's rules.
const maxRules = 256

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }

// name returns the form's field as a user-chosen name, "" if empty and
// allowed.
func name(f url.Values, field string, optional bool) (string, error) {
	v := strings.TrimSpace(f.Get(field))
	if v == "" && optional {
		return "", nil
	}
	if err := auth.ValidateName(v); err != nil {
		return "", badForm("%s: %v", field, err)
	}
	return v, nil
}

// number parses an integer field in lo..hi; def when empty.
func number(f url.Values, field string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(f.Get(field))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badForm("%s %q: want a whole number from %d to %d", field, v, lo, hi)
	}
	return n, nil
}

// decodeLaunch decodes the launch form.
func decodeLaunch(f url.Values) (orchestrator.LaunchSpec, error) {
	var q orchestrator.LaunchSpec
	var err error
	if q.Image, err = name(f, "image", false); err != nil {
		return q, err
	}
	q.Type = strings.TrimSpace(f.Get("type"))
	if err := types.ValidateName(q.Type); err != nil {
		return q, badForm("type: %v", err)
	}
	if q.Count, err = number(f, "count", 1, 1, lifecycle.MaxLaunchCount); err != nil {
		return q, err
	}
	if q.Network, err = name(f, "network", true); err != nil {
		return q, err
	}
	if q.KeyName, err = name(f, "key_name", true); err != nil {
		return q, err
	}
	groups := f["security_groups"]
	if len(groups) > 16 {
		return q, badForm("at most 16 security groups")
	}
	for _, g := range groups {
		if err := auth.ValidateName(g); err != nil {
			return q, badForm("security group: %v", err)
		}
		q.SecurityGroups = append(q.SecurityGroups, g)
	}
	if ud := f.Get("user_data"); ud != "" {
		// A textarea sends CRLF line ends; cloud-init and scripts want LF.
		q.UserData = []byte(strings.ReplaceAll(ud, "\r\n", "\n"))
	}
	if len(q.UserData) > lifecycle.MaxUserData {
		return q, badForm("user data is %d bytes, limit %d", len(q.UserData), lifecycle.MaxUserData)
	}
	q.HTTPTokens = f.Get("http_tokens")
	// Empty is the image's disk size; whether the image has a disk and
	// the size fits it is the core's to say.
	if q.RootSizeGiB, err = number(f, "root_size_gib", 0, 1, orchestrator.MaxRootGiB); err != nil {
		return q, err
	}
	return q, nil
}

// decodeNetwork decodes the network form.
func decodeNetwork(f url.Values) (netcfg.Network, error) {
	n, err := name(f, "name", false)
	if err != nil {
		return netcfg.Network{}, err
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(f.Get("cidr")))
	if err != nil {
		return netcfg.Network{}, badForm("cidr: %v", err)
	}
	return netcfg.Network{Name: n, CIDR: p, NoNAT: f.Get("no_nat") != ""}, nil
}

// decodeRules decodes the rule editor: rows of the parallel fields dir,
// proto, ports and peer; a row whose proto is empty is left out.
func decodeRules(f url.Values) (ingress, egress []netcfg.Rule, err error) {
	dirs, protos, ports, peers := f["dir"], f["proto"], f["ports"], f["peer"]
	if len(protos) > maxRules || len(dirs) != len(protos) || len(ports) != len(protos) || len(peers) != len(protos) {
		return nil, nil, badForm("the rule rows are incomplete or more than %d", maxRules)
	}
	for i, proto := range protos {
		if proto == "" {
			continue
		}
		rl := netcfg.Rule{Proto: netcfg.Proto(proto)}
		if rl.FromPort, rl.ToPort, err = portRange(ports[i]); err != nil {
			return nil, nil, badForm("rule %d: %v", i+1, err)
		}
		peer := strings.TrimSpace(peers[i])
		if p, perr := netip.ParsePrefix(peer); perr == nil {
			rl.CIDR = p
		} else if rl.Group, err = name(url.Values{"peer": {peer}}, "peer", false); err != nil {
			return nil, nil, badForm("rule %d: peer %q is neither a CIDR nor a group name", i+1, peer)
		}
		switch dirs[i] {
		case "ingress":
			ingress = append(ingress, rl)
		case "egress":
			egress = append(egress, rl)
		default:
			return nil, nil, badForm("rule %d: direction %q: want ingress or egress", i+1, dirs[i])
		}
	}
	return ingress, egress, nil
}

// portRange parses "", "22" or "1000-2000" (empty: all ports).
func portRange(s string) (uint16, uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, badForm("ports %q: want a port or a range like 1000-2000", s)
	}
	return uint16(a), uint16(b), nil
}

// portsOf renders a rule's port range as the editor shows it.
func portsOf(r netcfg.Rule) string {
	switch {
	case r.FromPort == 0 && r.ToPort == 0:
		return ""
	case r.FromPort == r.ToPort:
		return strconv.Itoa(int(r.FromPort))
	}
	return strconv.Itoa(int(r.FromPort)) + "-" + strconv.Itoa(int(r.ToPort))
}

// peerOf renders a rule's peer as the editor shows it.
func peerOf(r netcfg.Rule) string {
	if r.Group != "" {
		return r.Group
	}
	if r.CIDR.IsValid() {
		return r.CIDR.String()
	}
	return ""
}
