package metadata

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// Versions are the API versions served, as EC2 lists them at "/". Each
// serves the same tree: cloud-init's DataSourceEc2 asks for 2021-03-23,
// then 2018-09-24 and 2016-09-02, and falls back to 2009-04-04; scripts
// use "latest".
var Versions = []string{
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
	"2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12",
	"2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02",
	"2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03",
	"2021-03-23", "2021-07-15", "latest",
}

// DefaultZone is the availability zone an appliance reports when
// Config.Zone is empty; the region is the zone without its last letter,
// as cloud-init derives it.
const DefaultZone = "ironvisor-1a"

// rootDevice is the root volume's device in the guest (the first
// virtio-blk disk).
const rootDevice = "/dev/vda"

// view is what one request may see: its instance, the NIC it came
// through, and what the host network says about that NIC.
type view struct {
	in       lifecycle.Instance
	nic      netcfg.NIC
	cidr     netip.Prefix // the NIC's network; invalid if unknown
	publicIP netip.Addr   // the instance's public IP; invalid if none
	zone     string
}

// newView completes in and nic with the host network's state st.
func newView(in lifecycle.Instance, nic netcfg.NIC, st netcfg.State, zone string) view {
	v := view{in: in, nic: nic, zone: zone}
	for _, n := range st.Networks {
		if n.Name == nic.Network {
			v.cidr = n.CIDR
		}
	}
	for _, p := range st.PublicIPs {
		if p.Instance == nic.Instance {
			v.publicIP = p.Address
		}
	}
	return v
}

// region is the zone without its last letter.
func (v view) region() string { return strings.TrimRight(v.zone, "abcdefghijklmnopqrstuvwxyz") }

// leaves returns every leaf of the instance's tree under a version, by
// path: meta-data/..., user-data and dynamic/instance-identity/document.
func (v view) leaves() map[string]string {
	in, nic := v.in, v.nic
	mac := strings.ToLower(nic.MAC)
	m := map[string]string{
		"ami-id":                      in.Image,
		"ami-launch-index":            strconv.Itoa(in.LaunchIndex),
		"hostname":                    in.ID,
		"instance-action":             "none",
		"instance-id":                 in.ID,
		"instance-life-cycle":         "on-demand",
		"instance-type":               in.Type.Name,
		"local-hostname":              in.ID,
		"local-ipv4":                  nic.IP.String(),
		"mac":                         mac,
		"placement/availability-zone": v.zone,
		"placement/region":            v.region(),
		"security-groups":             strings.Join(nic.Groups, "\n"),
	}
	if in.RootSize > 0 {
		m["block-device-mapping/ami"] = rootDevice
		m["block-device-mapping/root"] = rootDevice
	}
	if v.publicIP.IsValid() {
		m["public-ipv4"] = v.publicIP.String()
	}
	if in.PublicKey != "" {
		m["public-keys/0/openssh-key"] = in.PublicKey + "\n"
	}
	iface := "network/interfaces/macs/" + mac + "/"
	for k, val := range map[string]string{
		"device-number":   "0",
		"interface-id":    "eni-" + strings.ReplaceAll(mac, ":", ""),
		"local-hostname":  in.ID,
		"local-ipv4s":     nic.IP.String(),
		"mac":             mac,
		"owner-id":        in.TenantID,
		"security-groups": strings.Join(nic.Groups, "\n"),
		"subnet-id":       nic.Network,
		"vpc-id":          nic.Network,
	} {
		m[iface+k] = val
	}
	if v.cidr.IsValid() {
		m[iface+"subnet-ipv4-cidr-block"] = v.cidr.String()
		m[iface+"vpc-ipv4-cidr-block"] = v.cidr.String()
	}
	if v.publicIP.IsValid() {
		m[iface+"public-ipv4s"] = v.publicIP.String()
	}
	out := make(map[string]string, len(m)+2)
	for k, val := range m {
		out["meta-data/"+k] = val
	}
	if len(in.UserData) > 0 {
		out["user-data"] = string(in.UserData)
	}
	out["dynamic/instance-identity/document"] = v.identity()
	return out
}

// identity is the instance identity document (EC2's
// dynamic/instance-identity/document, which cloud-init reads for the
// instance ID, zone and region on EC2). It is not signed: there is no
// pkcs7 or signature beside it.
func (v view) identity() string {
	doc := map[string]any{
		"accountId":        v.in.TenantID,
		"architecture":     "x86_64",
		"availabilityZone": v.zone,
		"imageId":          v.in.Image,
		"instanceId":       v.in.ID,
		"instanceType":     v.in.Type.Name,
		"pendingTime":      v.in.LaunchTime.UTC().Format("2006-01-02T15:04:05Z"),
		"privateIp":        v.nic.IP.String(),
		"region":           v.region(),
		"version":          "2017-09-30",
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // a map of strings cannot fail
	return string(b)
}

// lookup answers path (after the version, without the leading slash) in
// v's tree: a leaf's contents, or a directory's entries one per line,
// subdirectories with a trailing slash, as EC2 lists them. The version's
// own listing names its three parts without slashes, as EC2 does.
func (v view) lookup(path string) (string, bool) {
	p := strings.TrimSuffix(path, "/")
	for _, seg := range strings.Split(p, "/") {
		if (seg == "" && p != "") || seg == "." || seg == ".." {
			return "", false
		}
	}
	leaves := v.leaves()
	if val, ok := leaves[p]; ok {
		return val, true
	}
	switch p {
	case "":
		if _, ok := leaves["user-data"]; ok {
			return "dynamic\nmeta-data\nuser-data", true
		}
		return "dynamic\nmeta-data", true
	case "meta-data/public-keys":
		// EC2 lists each key as INDEX=NAME; cloud-init reads the key at
		// public-keys/INDEX/openssh-key.
		if v.in.PublicKey != "" {
			return "0=" + v.in.KeyName, true
		}
	}
	var names []string
	for k := range leaves {
		rest, ok := strings.CutPrefix(k, p+"/")
		if !ok {
			continue
		}
		name, _, sub := strings.Cut(rest, "/")
		if sub {
			name += "/"
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", false
	}
	slices.Sort(names)
	return strings.Join(names, "\n"), true
}
