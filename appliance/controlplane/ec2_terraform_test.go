package controlplane

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
)

// TestEC2TerraformInstanceRead replays what Terraform's AWS provider
// calls to read an aws_instance, twice, and checks that both reads agree
// (no diff) and that each attribute answers with its value.
func TestEC2TerraformInstanceRead(t *testing.T) {
	e := newEnv(t, &recRunner{started: map[string]orchestrator.RunSpec{}})
	_, tok := e.tenant("alice")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(tok)
	ctx := context.Background()
	ud := "#cloud-config\n"
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(ud))),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("tf")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	read := func() string {
		t.Helper()
		d, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		in := d.Reservations[0].Instances[0]
		its, err := c.DescribeInstanceTypes(ctx, &awsec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{in.InstanceType}})
		if err != nil || len(its.InstanceTypes) != 1 {
			t.Fatalf("DescribeInstanceTypes must give exactly one: %v", err)
		}
		tags, err := c.DescribeTags(ctx, &awsec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
		if err != nil || len(tags.Tags) != 1 {
			t.Fatalf("DescribeTags: %+v %v", tags, err)
		}
		vpcs, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{VpcIds: []string{*in.VpcId}})
		if err != nil || len(vpcs.Vpcs) != 1 {
			t.Fatalf("DescribeVpcs: %v", err)
		}
		vols, err := c.DescribeVolumes(ctx, &awsec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}}})
		if err != nil || len(vols.Volumes) != 0 {
			t.Fatalf("DescribeVolumes: %v", err)
		}
		var attrs []string
		for _, a := range []ec2types.InstanceAttributeName{"instanceInitiatedShutdownBehavior", "disableApiStop", "disableApiTermination", "userData"} {
			out, err := c.DescribeInstanceAttribute(ctx, &awsec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: a})
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			var v string
			switch a {
			case "instanceInitiatedShutdownBehavior":
				v = aws.ToString(out.InstanceInitiatedShutdownBehavior.Value)
			case "disableApiStop":
				v = fmt.Sprint(aws.ToBool(out.DisableApiStop.Value))
			case "disableApiTermination":
				v = fmt.Sprint(aws.ToBool(out.DisableApiTermination.Value))
			case "userData":
				b, _ := base64.StdEncoding.DecodeString(aws.ToString(out.UserData.Value))
				if string(b) != ud {
					t.Fatalf("userData %q", b)
				}
				v = string(b)
			}
			attrs = append(attrs, v)
		}
		return fmt.Sprintf("%s %s %s %v %v %v", *in.InstanceId, in.InstanceType, *in.ImageId, aws.ToString(in.SubnetId) == "", aws.ToString(tags.Tags[0].Value), attrs)
	}
	nis, err := c.DescribeNetworkInterfaces(ctx, &awsec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{"sg-0"}}}})
	if err != nil || len(nis.NetworkInterfaces) != 0 {
		t.Fatalf("DescribeNetworkInterfaces: %v", err)
	}
	if a, b := read(), read(); a != b {
		t.Fatalf("two reads differ:\n%s\n%s", a, b)
	}
}
