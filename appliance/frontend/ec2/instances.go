package ec2

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/core/tags"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// stateCodes are EC2's instance state codes.
var stateCodes = map[lifecycle.State]int{
	lifecycle.Pending: 0, lifecycle.Running: 16, lifecycle.ShuttingDown: 32,
	lifecycle.Terminated: 48, lifecycle.Stopping: 64, lifecycle.Stopped: 80,
}

type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(s lifecycle.State) instanceState {
	return instanceState{Code: stateCodes[s], Name: string(s)}
}

type groupRef struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type tagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func tagItems(ts []tags.Tag) []tagItem {
	out := make([]tagItem, len(ts))
	for i, t := range ts {
		out[i] = tagItem{Key: t.Key, Value: t.Value}
	}
	return out
}

type instanceItem struct {
	InstanceID      string        `xml:"instanceId"`
	ImageID         string        `xml:"imageId"`
	State           instanceState `xml:"instanceState"`
	PrivateDNSName  string        `xml:"privateDnsName"`
	DNSName         string        `xml:"dnsName"`
	Reason          string        `xml:"reason"`
	KeyName         string        `xml:"keyName,omitempty"`
	LaunchIndex     int           `xml:"amiLaunchIndex"`
	InstanceType    string        `xml:"instanceType"`
	LaunchTime      string        `xml:"launchTime"`
	Zone            string        `xml:"placement>availabilityZone"`
	Tenancy         string        `xml:"placement>tenancy"`
	Monitoring      string        `xml:"monitoring>state"`
	SubnetID        string        `xml:"subnetId,omitempty"`
	VpcID           string        `xml:"vpcId,omitempty"`
	PrivateIP       string        `xml:"privateIpAddress,omitempty"`
	PublicIP        string        `xml:"ipAddress,omitempty"`
	Groups          []groupRef    `xml:"groupSet>item"`
	StateReasonCode string        `xml:"stateReason>code"`
	StateReasonMsg  string        `xml:"stateReason>message"`
	Architecture    string        `xml:"architecture"`
	RootDeviceType  string        `xml:"rootDeviceType"`
	RootDeviceName  string        `xml:"rootDeviceName"`
	Virtualization  string        `xml:"virtualizationType"`
	Hypervisor      string        `xml:"hypervisor"`
	Tags            []tagItem     `xml:"tagSet>item"`
	CoreCount       int           `xml:"cpuOptions>coreCount"`
	ThreadsPerCore  int           `xml:"cpuOptions>threadsPerCore"`
	HTTPTokens      string        `xml:"metadataOptions>httpTokens"`
	MetadataState   string        `xml:"metadataOptions>state"`
	HTTPEndpoint    string        `xml:"metadataOptions>httpEndpoint"`
	ClientToken     string        `xml:"clientToken"`
	EbsOptimized    bool          `xml:"ebsOptimized"`
	SourceDestCheck bool          `xml:"sourceDestCheck"`
	PlatformDetails string        `xml:"platformDetails"`
	CurrentInstBoot string        `xml:"currentInstanceBootMode"`
	UsageOperation  string        `xml:"usageOperation"`
}

// view holds what rendering instances needs besides the instances: the
// tenant's tags and public IPs, and the EC2 IDs of its VPC, subnets and
// groups, each hashed once per answer rather than once per instance.
type view struct {
	tenant string
	zone   string
	vpc    string
	tags   map[string][]tags.Tag
	public map[string]string // instance ID -> public address
	// ids memoizes subnetID and groupID by prefix and name.
	ids map[[2]string]string
}

// emptyView is the view of tenant's instances in zone with no tags and
// no public IPs.
func emptyView(tenant, zone string) view {
	return view{tenant: tenant, zone: zone, vpc: vpcID(tenant), public: map[string]string{}, ids: map[[2]string]string{}}
}

// newView loads the tags and public IPs of c's tenant.
func (s *Server) newView(c call) (view, error) {
	v := emptyView(c.who.TenantID, s.zone())
	var err error
	if v.tags, err = s.cfg.Tags.All(c.who.TenantID); err != nil {
		return v, err
	}
	pips, err := s.cfg.Domain.PublicIPs(c.who)
	if err != nil {
		return v, err
	}
	for _, p := range pips {
		if p.Instance != "" {
			v.public[p.Instance] = p.Address.String()
		}
	}
	return v, nil
}

// hashed returns hashID(prefix, v.tenant, name), computing it once.
func (v view) hashed(prefix, name string) string {
	k := [2]string{prefix, name}
	id, ok := v.ids[k]
	if !ok {
		id = hashID(prefix, v.tenant, name)
		v.ids[k] = id
	}
	return id
}

func (v view) instance(in lifecycle.Instance) instanceItem {
	it := instanceItem{
		InstanceID: in.ID, ImageID: amiID(in.Image), State: stateOf(in.State), Reason: in.Reason,
		KeyName: in.KeyName, InstanceType: in.Type.Name, LaunchTime: ts(in.LaunchTime),
		Zone: v.zone, Tenancy: "default", Monitoring: "disabled", Architecture: "x86_64",
		RootDeviceType: "instance-store", RootDeviceName: rootDevice, Virtualization: "hvm", Hypervisor: "ironvisor",
		Tags: tagItems(v.tags[in.ID]), CoreCount: in.Type.VCPUs, ThreadsPerCore: 1,
		HTTPTokens: lifecycle.HTTPTokensOptional, MetadataState: "applied", HTTPEndpoint: "enabled",
		SourceDestCheck: true, PlatformDetails: "Linux/UNIX", CurrentInstBoot: "legacy-bios", UsageOperation: "RunInstances",
		StateReasonCode: string(in.State), StateReasonMsg: in.Reason, VpcID: v.vpc, PublicIP: v.public[in.ID],
	}
	if in.HTTPTokens != "" {
		it.HTTPTokens = in.HTTPTokens
	}
	if in.Network != "" {
		it.SubnetID = v.hashed(subnetPrefix, in.Network)
	}
	if len(in.IPs) > 0 {
		it.PrivateIP = in.IPs[0]
	}
	if len(in.SecurityGroups) > 0 {
		it.Groups = make([]groupRef, len(in.SecurityGroups))
		for i, g := range in.SecurityGroups {
			it.Groups[i] = groupRef{GroupID: v.hashed(groupPrefix, g), GroupName: g}
		}
	}
	return it
}

type reservation struct {
	ReservationID string         `xml:"reservationId"`
	OwnerID       string         `xml:"ownerId"`
	Groups        []groupRef     `xml:"groupSet>item"`
	Instances     []instanceItem `xml:"instancesSet>item"`
}

type runInstancesResponse struct {
	head
	reservation
}

// launchSpec decodes RunInstances into the core's launch, with the
// instance count range and the tags to put on the instances.
func (s *Server) launchSpec(c call) (orchestrator.LaunchSpec, int, []tags.Tag, error) {
	var q orchestrator.LaunchSpec
	var err error
	if q.Image, err = c.p.required("ImageId"); err != nil {
		return q, 0, nil, err
	}
	q.Image = imageRef(q.Image)
	if q.Type, err = c.p.required("InstanceType"); err != nil {
		return q, 0, nil, err
	}
	lo, err := c.p.integer("MinCount", 1, 1, lifecycle.MaxLaunchCount)
	if err != nil {
		return q, 0, nil, err
	}
	if q.Count, err = c.p.integer("MaxCount", lo, 1, lifecycle.MaxLaunchCount); err != nil {
		return q, 0, nil, err
	}
	if lo > q.Count {
		return q, 0, nil, invalidValue("MinCount %d is more than MaxCount %d", lo, q.Count)
	}
	if ud := c.p.str("UserData"); ud != "" {
		if q.UserData, err = base64.StdEncoding.DecodeString(ud); err != nil {
			return q, 0, nil, invalidValue("UserData: invalid base64")
		}
		if len(q.UserData) > lifecycle.MaxUserData {
			return q, 0, nil, invalidValue("UserData is %d bytes, limit %d", len(q.UserData), lifecycle.MaxUserData)
		}
	}
	q.KeyName = c.p.str("KeyName")
	if q.RootSizeGiB, err = rootSizeGiB(c.p); err != nil {
		return q, 0, nil, err
	}
	q.HTTPTokens = c.p.str("MetadataOptions.HttpTokens")
	if sub := c.p.str("SubnetId"); sub != "" {
		if q.Network, err = s.networkOf(c, sub); err != nil {
			return q, 0, nil, err
		}
	}
	if q.SecurityGroups, err = s.groupNames(c, "SecurityGroupId", "SecurityGroup"); err != nil {
		return q, 0, nil, err
	}
	specs, err := c.p.members("TagSpecification")
	if err != nil {
		return q, 0, nil, err
	}
	var ts []tags.Tag
	for _, sp := range specs {
		if rt := sp.str("ResourceType"); rt != "instance" {
			return q, 0, nil, invalidValue("TagSpecification ResourceType %q: only instance is supported", trim(rt, 32))
		}
		more, err := tagList(sp, "Tag")
		if err != nil {
			return q, 0, nil, err
		}
		ts = append(ts, more...)
	}
	for _, t := range ts {
		if err := tags.Validate(t); err != nil {
			return q, 0, nil, err
		}
	}
	return q, lo, ts, nil
}

// runInstances launches MaxCount instances, or MinCount when the host
// has no room for more, and tags them.
func (s *Server) runInstances(c call) (any, error) {
	q, lo, ts, err := s.launchSpec(c)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Images.Get(q.Image); err != nil {
		return nil, imageObj.err(err)
	}
	if _, err := s.cfg.Catalog.Get(q.Type); err != nil {
		return nil, invalidValue("Invalid value '%s' for InstanceType", trim(q.Type, 64))
	}
	insts, err := s.cfg.Orch.Launch(c.who, q)
	if errors.Is(err, apiv1.InsufficientCapacity) && lo < q.Count {
		q.Count = lo
		insts, err = s.cfg.Orch.Launch(c.who, q)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(insts))
	for i, in := range insts {
		ids[i] = in.ID
	}
	if len(ts) > 0 {
		if err := s.cfg.Tags.Set(c.who.TenantID, ids, ts); err != nil {
			return nil, err
		}
	}
	v, err := s.newView(c)
	if err != nil {
		return nil, err
	}
	out := &runInstancesResponse{reservation: reservation{ReservationID: reservationID(ids[0]), OwnerID: c.who.TenantID}}
	for i, in := range insts {
		it := v.instance(in)
		it.LaunchIndex = i
		out.Instances = append(out.Instances, it)
	}
	out.Groups = out.Instances[0].Groups
	return out, nil
}

type describeInstancesResponse struct {
	head
	Reservations []reservation `xml:"reservationSet>item"`
	NextToken    string        `xml:"nextToken,omitempty"`
}

// owned returns who's instances, all of them or those named (each must
// exist: InvalidInstanceID.NotFound names those that do not).
func (s *Server) owned(c call, ids []string) ([]lifecycle.Instance, error) {
	all, err := s.cfg.Orch.Instances(c.who)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b lifecycle.Instance) int { return strings.Compare(a.ID, b.ID) })
	if len(ids) == 0 {
		return all, nil
	}
	byID := map[string]lifecycle.Instance{}
	for _, in := range all {
		byID[in.ID] = in
	}
	var out []lifecycle.Instance
	var missing []string
	for _, id := range ids {
		in, ok := byID[id]
		if !ok {
			missing = append(missing, trim(id, 32))
			continue
		}
		out = append(out, in)
	}
	if len(missing) > 0 {
		return nil, newError(instanceObj.notFound, "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	return out, nil
}

// instanceFilter reports whether an instance item matches a filter.
func instanceFilter(f filter, it instanceItem) (bool, error) {
	var got []string
	switch {
	case f.Name == "instance-id":
		got = []string{it.InstanceID}
	case f.Name == "instance-state-name":
		got = []string{it.State.Name}
	case f.Name == "instance-state-code":
		got = []string{fmt.Sprint(it.State.Code)}
	case f.Name == "instance-type":
		got = []string{it.InstanceType}
	case f.Name == "image-id":
		got = []string{it.ImageID}
	case f.Name == "key-name":
		got = []string{it.KeyName}
	case f.Name == "subnet-id":
		got = []string{it.SubnetID}
	case f.Name == "vpc-id":
		got = []string{it.VpcID}
	case f.Name == "private-ip-address":
		got = []string{it.PrivateIP}
	case f.Name == "ip-address":
		got = []string{it.PublicIP}
	case f.Name == "availability-zone":
		got = []string{it.Zone}
	case f.Name == "tag-key":
		for _, t := range it.Tags {
			got = append(got, t.Key)
		}
	case strings.HasPrefix(f.Name, "tag:"):
		for _, t := range it.Tags {
			if t.Key == f.Name[4:] {
				got = append(got, t.Value)
			}
		}
	case f.Name == "instance.group-id":
		for _, g := range it.Groups {
			got = append(got, g.GroupID)
		}
	case f.Name == "instance.group-name":
		for _, g := range it.Groups {
			got = append(got, g.GroupName)
		}
	default:
		return false, invalidValue("The filter '%s' is invalid", trim(f.Name, 64))
	}
	return anyMatch(f.Values, got), nil
}

// anyMatch reports whether any value matches any pattern (EC2's * and ?
// wildcards).
func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches s against p, where * is any run and ? any one byte.
func glob(p, s string) bool {
	px, sx, star, mark := 0, 0, -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px, sx = px+1, sx+1
		case px < len(p) && p[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px, mark = star+1, mark+1
			sx = mark
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// describeInstances lists who's instances, named or all, filtered, a
// page at a time (one reservation per instance).
func (s *Server) describeInstances(c call) (any, error) {
	ids, fs, max, err := c.p.describeArgs("InstanceId")
	if err != nil {
		return nil, err
	}
	insts, err := s.owned(c, ids)
	if err != nil {
		return nil, err
	}
	v, err := s.newView(c)
	if err != nil {
		return nil, err
	}
	items := make([]instanceItem, 0, len(insts))
	for _, in := range insts {
		it := v.instance(in)
		ok := true
		for _, f := range fs {
			m, err := instanceFilter(f, it)
			if err != nil {
				return nil, err
			}
			ok = ok && m
		}
		if ok {
			items = append(items, it)
		}
	}
	page, next, err := paginate(items, c.p.str("NextToken"), max, func(it instanceItem) string { return it.InstanceID })
	if err != nil {
		return nil, err
	}
	out := &describeInstancesResponse{NextToken: next, Reservations: make([]reservation, len(page))}
	for i := range page {
		// Each reservation's one instance is its item in page, not a copy.
		out.Reservations[i] = reservation{ReservationID: reservationID(page[i].InstanceID),
			OwnerID: c.who.TenantID, Groups: page[i].Groups, Instances: page[i : i+1 : i+1]}
	}
	return out, nil
}

// paginate returns the items after the one token names (by key, items
// sorted by key), at most max, and the token of the next page, "" at the
// end. A token is the last key of its page, so it never repeats.
func paginate[T any](items []T, token string, max int, key func(T) string) ([]T, string, error) {
	start := 0
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", invalidValue("NextToken is not one this endpoint gave")
		}
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > string(after) })
	}
	end := min(start+max, len(items))
	page := items[start:end]
	if end == len(items) {
		return page, "", nil
	}
	return page, base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1]))), nil
}
