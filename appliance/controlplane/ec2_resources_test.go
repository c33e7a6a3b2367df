package controlplane

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
)

// TestEC2SDKResources: security groups (with EC2's default egress rule),
// key pairs, the VPC and subnets, an instance in them, an Elastic IP,
// tags, and the catalogue, through the SDK; another tenant sees none.
func TestEC2SDKResources(t *testing.T) {
	e := newEnv(t, &recRunner{started: map[string]orchestrator.RunSpec{}})
	_, tok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(tok)
	bob, _ := e.sdkClient(bTok)
	ctx := context.Background()

	regions, err := c.DescribeRegions(ctx, &awsec2.DescribeRegionsInput{})
	if err != nil || len(regions.Regions) != 1 || *regions.Regions[0].RegionName != ec2.DefaultRegion {
		t.Fatalf("DescribeRegions: %+v %v", regions, err)
	}
	zones, err := c.DescribeAvailabilityZones(ctx, &awsec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(zones.AvailabilityZones) != 1 || *zones.AvailabilityZones[0].ZoneName != ec2.DefaultRegion+"a" {
		t.Fatalf("DescribeAvailabilityZones: %v", err)
	}
	its, err := c.DescribeInstanceTypes(ctx, &awsec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"nano"}})
	if err != nil || len(its.InstanceTypes) != 1 || *its.InstanceTypes[0].VCpuInfo.DefaultVCpus != 1 || *its.InstanceTypes[0].MemoryInfo.SizeInMiB != 64 {
		t.Fatalf("DescribeInstanceTypes: %+v %v", its, err)
	}
	if _, err := c.DescribeInstanceTypes(ctx, &awsec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"t9.huge"}}); apiCode(err) != "InvalidInstanceType" {
		t.Fatalf("unknown type: %v", err)
	}

	// Security groups: a new one has EC2's allow-all egress, which a
	// client revokes; ingress rules come and go.
	sg, err := c.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web servers")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSecurityGroup(ctx, &awsec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("x")}); apiCode(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("duplicate group: %v", err)
	}
	groups, err := c.DescribeSecurityGroups(ctx, &awsec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
	if err != nil || len(groups.SecurityGroups) != 1 || len(groups.SecurityGroups[0].IpPermissionsEgress) != 1 ||
		*groups.SecurityGroups[0].IpPermissionsEgress[0].IpProtocol != "-1" {
		t.Fatalf("new group: %+v %v", groups, err)
	}
	allOut := []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	if _, err := c.RevokeSecurityGroupEgress(ctx, &awsec2.RevokeSecurityGroupEgressInput{GroupId: sg.GroupId, IpPermissions: allOut}); err != nil {
		t.Fatalf("revoke default egress: %v", err)
	}
	ssh22 := []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String("192.0.2.0/24")}}}}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &awsec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: ssh22}); err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &awsec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: ssh22}); apiCode(err) != "InvalidPermission.Duplicate" {
		t.Fatalf("authorize twice: %v", err)
	}
	groups, err = c.DescribeSecurityGroups(ctx, &awsec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{"web"}}}})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Fatalf("describe by name: %v", err)
	}
	g := groups.SecurityGroups[0]
	if len(g.IpPermissionsEgress) != 0 || len(g.IpPermissions) != 1 || *g.IpPermissions[0].FromPort != 22 || *g.IpPermissions[0].IpRanges[0].CidrIp != "192.0.2.0/24" {
		t.Fatalf("rules: %+v", g)
	}
	if _, err := bob.DescribeSecurityGroups(ctx, &awsec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}}); apiCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("bob sees alice's group: %v", err)
	}

	// Key pairs: generated (the private key returned once) and imported.
	kp, err := c.CreateKeyPair(ctx, &awsec2.CreateKeyPairInput{KeyName: aws.String("gen"), KeyType: ec2types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(*kp.KeyMaterial))
	if err != nil || ssh.FingerprintSHA256(signer.PublicKey()) != *kp.KeyFingerprint {
		t.Fatalf("generated key: %v", err)
	}
	if _, err := c.ImportKeyPair(ctx, &awsec2.ImportKeyPairInput{KeyName: aws.String("imp"), PublicKeyMaterial: []byte(aliceKey)}); err != nil {
		t.Fatalf("import: %v", err)
	}
	kps, err := c.DescribeKeyPairs(ctx, &awsec2.DescribeKeyPairsInput{})
	if err != nil || len(kps.KeyPairs) != 2 {
		t.Fatalf("DescribeKeyPairs: %+v %v", kps, err)
	}
	if _, err := c.DescribeKeyPairs(ctx, &awsec2.DescribeKeyPairsInput{KeyNames: []string{"nope"}}); apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Fatalf("unknown key: %v", err)
	}
	if kps, _ := bob.DescribeKeyPairs(ctx, &awsec2.DescribeKeyPairsInput{}); len(kps.KeyPairs) != 0 {
		t.Fatalf("bob sees %d key pairs", len(kps.KeyPairs))
	}

	// A network is a subnet of the tenant's VPC; an instance runs in it,
	// in the group, with the key, and gets an Elastic IP.
	e.must(201, "POST", "/v1/networks", tok, map[string]any{"name": "net1", "cidr": "10.9.0.0/24"}, nil)
	vpcs, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	subs, err := c.DescribeSubnets(ctx, &awsec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpcs.Vpcs[0].VpcId}}}})
	if err != nil || len(subs.Subnets) != 1 || *subs.Subnets[0].CidrBlock != "10.9.0.0/24" {
		t.Fatalf("DescribeSubnets: %+v %v", subs, err)
	}
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: subs.Subnets[0].SubnetId,
		SecurityGroupIds: []string{*sg.GroupId}, KeyName: aws.String("gen"),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("hi")))})
	if err != nil {
		t.Fatal(err)
	}
	in := run.Instances[0]
	if *in.SubnetId != *subs.Subnets[0].SubnetId || *in.SecurityGroups[0].GroupId != *sg.GroupId || *in.KeyName != "gen" {
		t.Fatalf("instance: %+v", in)
	}
	id := *in.InstanceId
	if _, err := c.DeleteSecurityGroup(ctx, &awsec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); apiCode(err) != "DependencyViolation" {
		t.Fatalf("delete a group in use: %v", err)
	}
	alloc, err := c.AllocateAddress(ctx, &awsec2.AllocateAddressInput{Domain: ec2types.DomainTypeVpc})
	if err != nil {
		t.Fatalf("AllocateAddress: %v", err)
	}
	assoc, err := c.AssociateAddress(ctx, &awsec2.AssociateAddressInput{AllocationId: alloc.AllocationId, InstanceId: aws.String(id)})
	if err != nil {
		t.Fatalf("AssociateAddress: %v", err)
	}
	addrs, err := c.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{})
	if err != nil || len(addrs.Addresses) != 1 || *addrs.Addresses[0].InstanceId != id || *addrs.Addresses[0].AssociationId != *assoc.AssociationId {
		t.Fatalf("DescribeAddresses: %+v %v", addrs, err)
	}
	d, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || *d.Reservations[0].Instances[0].PublicIpAddress != *addrs.Addresses[0].PublicIp {
		t.Fatalf("instance's public IP: %v", err)
	}
	if a, _ := bob.DescribeAddresses(ctx, &awsec2.DescribeAddressesInput{}); len(a.Addresses) != 0 {
		t.Fatalf("bob sees alice's address")
	}
	if _, err := c.DisassociateAddress(ctx, &awsec2.DisassociateAddressInput{AssociationId: assoc.AssociationId}); err != nil {
		t.Fatalf("DisassociateAddress: %v", err)
	}
	if _, err := c.ReleaseAddress(ctx, &awsec2.ReleaseAddressInput{AllocationId: addrs.Addresses[0].AllocationId}); err != nil {
		t.Fatalf("ReleaseAddress: %v", err)
	}

	// Tags on an instance, a group and the VPC; bob cannot tag them.
	res := []string{id, *sg.GroupId, *vpcs.Vpcs[0].VpcId}
	if _, err := c.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: res, Tags: []ec2types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.DescribeTags(ctx, &awsec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("key"), Values: []string{"env"}}}})
	if err != nil || len(tags.Tags) != 3 {
		t.Fatalf("DescribeTags: %+v %v", tags, err)
	}
	if _, err := bob.CreateTags(ctx, &awsec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("x")}}}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("bob tags alice's instance: %v", err)
	}
	if _, err := c.DeleteTags(ctx, &awsec2.DeleteTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("env")}}}); err != nil {
		t.Fatal(err)
	}
	if tags, _ := c.DescribeTags(ctx, &awsec2.DescribeTagsInput{}); len(tags.Tags) != 2 {
		t.Fatalf("after DeleteTags: %+v", tags.Tags)
	}

	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKeyPair(ctx, &awsec2.DeleteKeyPairInput{KeyName: aws.String("gen")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKeyPair(ctx, &awsec2.DeleteKeyPairInput{KeyName: aws.String("gen")}); err != nil {
		t.Fatalf("deleting a missing key pair is no error on EC2: %v", err)
	}
}
