package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
)

// The EC2 actions added over the core's held public IPs, networks as
// subnets, root sizes and rules, STS on the same endpoint and presigned
// URLs, each driven by the AWS SDK for Go v2.

// vpcSubnet creates a subnet of block in c's VPC and returns its ID.
func vpcSubnet(t *testing.T, c *awsec2.Client, block string) string {
	t.Helper()
	ctx := context.Background()
	vpcs, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.CreateSubnet(ctx, &awsec2.CreateSubnetInput{VpcId: vpcs.Vpcs[0].VpcId, CidrBlock: aws.String(block)})
	if err != nil {
		t.Fatalf("CreateSubnet %s: %v", block, err)
	}
	return *sub.Subnet.SubnetId
}

// TestEC2ElasticIPs: AllocateAddress without an instance, then EC2-VPC's
// association rules: AllowReassociation moves it, ReleaseAddress while
// associated is InvalidIPAddress.InUse, terminating the instance only
// disassociates it, another tenant can neither see nor associate it.
func TestEC2ElasticIPs(t *testing.T) {
	e := newEnv(t, nil) // pool: 203.0.113.10 and .11
	_, tok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(tok)
	bob, _ := e.sdkClient(bTok)
	ctx := context.Background()
	sub := vpcSubnet(t, c, "10.20.0.0/24")
	sg, err := c.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{GroupName: aws.String("any"), Description: aws.String("any")})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2), SubnetId: aws.String(sub), SecurityGroupIds: []string{*sg.GroupId}})
	if err != nil {
		t.Fatal(err)
	}
	i1, i2 := *run.Instances[0].InstanceId, *run.Instances[1].InstanceId

	alloc, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeElasticIp,
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("front")}}}}})
	if err != nil || *alloc.PublicIp != "203.0.113.10" || !strings.HasPrefix(*alloc.AllocationId, "eipalloc-") || len(*alloc.AllocationId) != 26 {
		t.Fatalf("AllocateAddress: %+v %v", alloc, err)
	}
	addrs, err := c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{AllocationIds: []string{*alloc.AllocationId}})
	if err != nil || len(addrs.Addresses) != 1 || addrs.Addresses[0].InstanceId != nil || addrs.Addresses[0].AssociationId != nil ||
		len(addrs.Addresses[0].Tags) != 1 {
		t.Fatalf("an unassociated address: %+v %v", addrs, err)
	}
	if _, err := bob.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(i1)}); apiCode(err) != "InvalidAllocationID.NotFound" {
		t.Fatalf("bob associates alice's address: %v", err)
	}
	if _, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{InstanceId: aws.String(i1)}); apiCode(err) != "MissingParameter" {
		t.Fatalf("AssociateAddress without AllocationId: %v", err)
	}
	a1, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(i1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(i2)}); apiCode(err) != "Resource.AlreadyAssociated" {
		t.Fatalf("associate elsewhere without AllowReassociation: %v", err)
	}
	a2, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(i2), AllowReassociation: aws.Bool(true)})
	if err != nil || *a2.AssociationId == *a1.AssociationId {
		t.Fatalf("reassociate: %+v %v", a2, err)
	}
	d, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{i1, i2}})
	if err != nil || d.Reservations[0].Instances[0].PublicIpAddress != nil && *d.Reservations[0].Instances[0].InstanceId == i1 {
		t.Fatalf("i1 kept the address: %v", err)
	}
	if _, err := c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: alloc.AllocationId}); apiCode(err) != "InvalidIPAddress.InUse" {
		t.Fatalf("release while associated: %v", err)
	}
	if _, err := c.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: a1.AssociationId}); apiCode(err) != "InvalidAssociationID.NotFound" {
		t.Fatalf("disassociate a stale association: %v", err)
	}
	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{i2}}); err != nil {
		t.Fatal(err)
	}
	addrs, err = c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{})
	if err != nil || len(addrs.Addresses) != 1 || addrs.Addresses[0].InstanceId != nil {
		t.Fatalf("after its instance terminated, the address is kept, unassociated: %+v %v", addrs, err)
	}
	if a, _ := bob.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{}); len(a.Addresses) != 0 {
		t.Fatal("bob sees alice's address")
	}
	if _, err := c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: alloc.AllocationId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: alloc.AllocationId}); apiCode(err) != "InvalidAllocationID.NotFound" {
		t.Fatalf("release twice: %v", err)
	}
	// The pool has two: a third is AddressLimitExceeded.
	for range 2 {
		if _, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{}); apiCode(err) != "AddressLimitExceeded" {
		t.Fatalf("empty pool: %v", err)
	}
}

// TestEC2Subnets: CreateSubnet makes a network of the tenant (seen on
// /v1), DescribeSubnets lists it, a conflicting or out-of-VPC block is
// refused with EC2's codes, DeleteSubnet refuses while an instance is in
// it and then deletes it.
func TestEC2Subnets(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(tok)
	bob, _ := e.sdkClient(bTok)
	ctx := context.Background()
	vpcs, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{})
	if err != nil {
		t.Fatal(err)
	}
	vpc := vpcs.Vpcs[0].VpcId
	sub, err := c.CreateSubnet(ctx, &awsec2.CreateSubnetInput{VpcId: vpc, CidrBlock: aws.String("10.30.1.0/24"),
		AvailabilityZone: aws.String(ec2.DefaultRegion + "a"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet,
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s := sub.Subnet
	if !strings.HasPrefix(*s.SubnetId, "subnet-") || *s.CidrBlock != "10.30.1.0/24" || *s.VpcId != *vpc || *s.AvailableIpAddressCount != 253 ||
		s.State != ec2types.SubnetStateAvailable || len(s.Tags) != 1 {
		t.Fatalf("CreateSubnet: %+v", s)
	}
	var n apiv1.Network
	e.must(200, "GET", "/v1/networks/subnet-10-30-1-0-24", tok, nil, &n)
	if n.CIDR.String() != "10.30.1.0/24" {
		t.Fatalf("on /v1: %+v", n)
	}
	subs, err := c.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"web"}}}})
	if err != nil || len(subs.Subnets) != 1 || *subs.Subnets[0].SubnetId != *s.SubnetId {
		t.Fatalf("DescribeSubnets: %+v %v", subs, err)
	}
	for block, want := range map[string]string{"10.30.1.128/25": "InvalidSubnet.Conflict", "192.168.0.0/24": "InvalidSubnet.Range",
		"10.30.2.1/24": "InvalidSubnet.Range", "nonsense": "InvalidSubnet.Range"} {
		if _, err := c.CreateSubnet(ctx, &awsec2.CreateSubnetInput{VpcId: vpc, CidrBlock: aws.String(block)}); apiCode(err) != want {
			t.Errorf("CreateSubnet %s: %v, want %s", block, err, want)
		}
	}
	if _, err := c.CreateSubnet(ctx, &awsec2.CreateSubnetInput{VpcId: aws.String("vpc-00000000000000000"), CidrBlock: aws.String("10.31.0.0/24")}); apiCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("another VPC: %v", err)
	}
	if _, err := bob.DeleteSubnet(ctx, &awsec2.DeleteSubnetInput{SubnetId: s.SubnetId}); apiCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("bob deletes alice's subnet: %v", err)
	}
	sg, err := c.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{GroupName: aws.String("any"), Description: aws.String("any")})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: s.SubnetId, SecurityGroupIds: []string{*sg.GroupId}})
	if err != nil || *run.Instances[0].SubnetId != *s.SubnetId {
		t.Fatalf("run in the subnet: %v", err)
	}
	if _, err := c.DeleteSubnet(ctx, &awsec2.DeleteSubnetInput{SubnetId: s.SubnetId}); apiCode(err) != "DependencyViolation" {
		t.Fatalf("delete a subnet in use: %v", err)
	}
	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{*run.Instances[0].InstanceId}}); err != nil {
		t.Fatal(err)
	}
	terminated := awsec2.NewInstanceTerminatedWaiter(c, func(o *awsec2.InstanceTerminatedWaiterOptions) { fast[int](&o.MinDelay, &o.MaxDelay) })
	if err := terminated.Wait(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{*run.Instances[0].InstanceId}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSubnet(ctx, &awsec2.DeleteSubnetInput{SubnetId: s.SubnetId}); err != nil {
		t.Fatalf("DeleteSubnet: %v", err)
	}
	e.must(404, "GET", "/v1/networks/subnet-10-30-1-0-24", tok, nil, nil)
	if _, err := c.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{SubnetIds: []string{*s.SubnetId}}); apiCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("a deleted subnet: %v", err)
	}
}

// TestEC2RootBlockDevice: BlockDeviceMapping of the root device sizes the
// root volume in GiB; a smaller size than the image's disk, another
// device and a kept volume are refused.
func TestEC2RootBlockDevice(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("alice")
	e.diskImage("disk", 1<<20)
	c, _ := e.sdkClient(tok)
	ctx := context.Background()
	img, err := c.DescribeImages(ctx, &awsec2.DescribeImagesInput{})
	if err != nil || len(img.Images) != 1 {
		t.Fatal(err)
	}
	root := img.Images[0].RootDeviceName
	run := func(bdm ec2types.BlockDeviceMapping) (*awsec2.RunInstancesOutput, error) {
		return c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: img.Images[0].ImageId, InstanceType: "nano",
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), BlockDeviceMappings: []ec2types.BlockDeviceMapping{bdm}})
	}
	out, err := run(ec2types.BlockDeviceMapping{DeviceName: root, Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(3),
		VolumeType: ec2types.VolumeTypeGp3, DeleteOnTermination: aws.Bool(true)}})
	if err != nil {
		t.Fatalf("RunInstances with a 3 GiB root: %v", err)
	}
	var in apiv1.Instance
	e.must(200, "GET", "/v1/instances/"+*out.Instances[0].InstanceId, tok, nil, &in)
	if in.RootSizeBytes != 3<<30 {
		t.Fatalf("root size %d, want 3 GiB", in.RootSizeBytes)
	}
	for name, bdm := range map[string]ec2types.BlockDeviceMapping{
		"another device": {DeviceName: aws.String("/dev/vdb"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(3)}},
		"kept volume":    {DeviceName: root, Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(3), DeleteOnTermination: aws.Bool(false)}},
		"too large":      {DeviceName: root, Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(1 << 20)}},
		"no size":        {DeviceName: root, Ebs: &ec2types.EbsBlockDevice{VolumeType: ec2types.VolumeTypeGp3}},
	} {
		if _, err := run(bdm); err == nil || strings.HasPrefix(apiCode(err), "Internal") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestEC2SecurityGroupRules: each rule with its GroupId and a stable
// sgr- ID; the default egress rule is there until revoked.
func TestEC2SecurityGroupRules(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	c, _ := e.sdkClient(tok)
	bob, _ := e.sdkClient(bTok)
	ctx := context.Background()
	sg, err := c.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &awsec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("192.0.2.0/24")}}}}}); err != nil {
		t.Fatal(err)
	}
	byGroup := &awsec2.DescribeSecurityGroupRulesInput{Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{*sg.GroupId}}}}
	rules, err := c.DescribeSecurityGroupRules(ctx, byGroup)
	if err != nil || len(rules.SecurityGroupRules) != 2 {
		t.Fatalf("DescribeSecurityGroupRules: %+v %v", rules, err)
	}
	var in, eg ec2types.SecurityGroupRule
	for _, r := range rules.SecurityGroupRules {
		if *r.GroupId != *sg.GroupId || !strings.HasPrefix(*r.SecurityGroupRuleId, "sgr-") {
			t.Fatalf("rule %+v", r)
		}
		if *r.IsEgress {
			eg = r
		} else {
			in = r
		}
	}
	if *in.IpProtocol != "tcp" || *in.FromPort != 22 || *in.ToPort != 22 || *in.CidrIpv4 != "192.0.2.0/24" {
		t.Fatalf("ingress rule %+v", in)
	}
	if *eg.IpProtocol != "-1" || *eg.CidrIpv4 != "0.0.0.0/0" {
		t.Fatalf("default egress rule %+v", eg)
	}
	one, err := c.DescribeSecurityGroupRules(ctx, &awsec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{*in.SecurityGroupRuleId}})
	if err != nil || len(one.SecurityGroupRules) != 1 || *one.SecurityGroupRules[0].SecurityGroupRuleId != *in.SecurityGroupRuleId {
		t.Fatalf("by ID: %+v %v", one, err)
	}
	if _, err := bob.DescribeSecurityGroupRules(ctx, &awsec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{*in.SecurityGroupRuleId}}); apiCode(err) != "InvalidSecurityGroupRuleId.NotFound" {
		t.Fatalf("bob reads alice's rule: %v", err)
	}
	if _, err := c.RevokeSecurityGroupEgress(ctx, &awsec2.RevokeSecurityGroupEgressInput{GroupId: sg.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	if rules, err := c.DescribeSecurityGroupRules(ctx, byGroup); err != nil || len(rules.SecurityGroupRules) != 1 || *rules.SecurityGroupRules[0].IsEgress {
		t.Fatalf("after revoking egress: %+v %v", rules, err)
	}
}

// stsClient returns an STS client for the EC2 endpoint with key id and
// secret.
func (e *env) stsClient(id, secret string) *sts.Client {
	return sts.New(sts.Options{Region: ec2.DefaultRegion, BaseEndpoint: aws.String(e.srv.URL + ec2.Path),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), HTTPClient: sdkHTTP(e.srv), RetryMaxAttempts: 1})
}

// TestSTSGetCallerIdentity: sts:GetCallerIdentity on the EC2 endpoint
// names the tenant as the account and the key as the user; a wrong
// secret is refused in STS's error format; EC2 actions are not STS's.
func TestSTSGetCallerIdentity(t *testing.T) {
	e := newEnv(t, nil)
	id, tok := e.tenant("alice")
	_, k := e.sdkClient(tok)
	out, err := e.stsClient(k.ID, k.Secret).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *out.Account != id || *out.UserId != k.ID || *out.Arn != "arn:aws:iam::"+id+":user/"+k.ID {
		t.Fatalf("identity %s %s %s, tenant %s key %s", *out.Account, *out.UserId, *out.Arn, id, k.ID)
	}
	if _, err := e.stsClient(k.ID, k.Secret+"x").GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	// An STS-signed EC2 action is not an STS action.
	code, body := e.signedPostFor("sts", k.ID, k.Secret, "Action=DescribeInstances&Version=2016-11-15", time.Now())
	if code != 400 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "UnsupportedOperation") {
		t.Fatalf("EC2 action signed for STS: %d %s", code, body)
	}
}

// signedPostFor is signedPost for another service's scope.
func (e *env) signedPostFor(service, id, secret, body string, at time.Time) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+ec2.Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, sha256Hex(body), service, ec2.DefaultRegion, at); err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

// send does req and returns the status and body.
func (e *env) send(req *http.Request) (int, string) {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// presignedGet returns a GET of the Query action q presigned by the SDK's
// signer for expires at time at.
func (e *env) presignedGet(id, secret string, q url.Values, expires time.Duration, at time.Time) *http.Request {
	e.t.Helper()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	req, _ := http.NewRequest("GET", e.srv.URL+ec2.Path+"?"+q.Encode(), nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, sha256Hex(""), "ec2", ec2.DefaultRegion, at)
	if err != nil {
		e.t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", u, nil)
	return r
}

// TestEC2Presigned: a URL presigned by the SDK answers with no
// Authorization header until it expires, and AuthFailure after; a
// tampered one is SignatureDoesNotMatch.
func TestEC2Presigned(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("alice")
	_, k := e.sdkClient(tok)
	q := url.Values{"Action": {"DescribeRegions"}, "Version": {"2016-11-15"}}
	code, body := e.send(e.presignedGet(k.ID, k.Secret, q, time.Hour, time.Now().Add(-50*time.Minute)))
	var regions struct {
		Regions []string `xml:"regionInfo>item>regionName"`
	}
	if code != 200 || xml.Unmarshal([]byte(body), &regions) != nil || len(regions.Regions) != 1 || regions.Regions[0] != ec2.DefaultRegion {
		t.Fatalf("presigned within its hour (past the 5 min skew): %d %s", code, body)
	}
	code, body = e.send(e.presignedGet(k.ID, k.Secret, q, 10*time.Minute, time.Now().Add(-11*time.Minute)))
	if code != 401 || !strings.Contains(body, "<Code>AuthFailure</Code>") || !strings.Contains(body, "expired") {
		t.Fatalf("expired: %d %s", code, body)
	}
	r := e.presignedGet(k.ID, k.Secret, q, time.Hour, time.Now())
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "DescribeRegions", "DescribeInstances", 1)
	if code, body := e.send(r); code != 401 || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("tampered: %d %s", code, body)
	}
}

// sha256Hex is the hex SHA-256 of s, a payload hash.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
