//go:build rack

// This test needs hardware KVM; it is compiled only with the rack tag and
// runs in appliance/service/racktest.

package service

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// TestEC2OnKVM drives a tiny PVH guest through the EC2 endpoint of
// "ironvisor serve" with the AWS SDK for Go v2 and its own waiters:
// RunInstances, InstanceRunningWaiter, GetConsoleOutput holding the
// guest's marker, StopInstances with InstanceStoppedWaiter,
// ModifyInstanceAttribute, StartInstances, TerminateInstances with
// InstanceTerminatedWaiter.
func TestEC2OnKVM(t *testing.T) {
	needKVM(t)
	s := startServe(t, "--insecure-http")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "ec2kvm", "--json")
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("EC2-KVM-MARKER\n", testutil.ExitHalt), 0o644)
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	var key struct{ ID, Secret string }
	s.ok(t, tenant.Token, &key, "access-keys", "create", "--json")
	c := awsec2.New(awsec2.Options{Region: "ironvisor-1", BaseEndpoint: aws.String(s.url + "ec2/"),
		Credentials: credentials.NewStaticCredentialsProvider(key.ID, key.Secret, "")})
	ctx := context.Background()
	poll := func(min, max *time.Duration) { *min, *max = 100*time.Millisecond, time.Second }

	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	ids := &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}
	running := awsec2.NewInstanceRunningWaiter(c, func(o *awsec2.InstanceRunningWaiterOptions) { poll(&o.MinDelay, &o.MaxDelay) })
	if err := running.Wait(ctx, ids, 2*time.Minute); err != nil {
		t.Fatalf("InstanceRunningWaiter: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.GetConsoleOutput(ctx, &awsec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		text, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		if strings.Contains(string(text), "EC2-KVM-MARKER") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console never showed the marker: %q", text)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}, Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	stopped := awsec2.NewInstanceStoppedWaiter(c, func(o *awsec2.InstanceStoppedWaiterOptions) { poll(&o.MinDelay, &o.MaxDelay) })
	if err := stopped.Wait(ctx, ids, time.Minute); err != nil {
		t.Fatalf("InstanceStoppedWaiter: %v", err)
	}
	if _, err := c.ModifyInstanceAttribute(ctx, &awsec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		InstanceType: &ec2types.AttributeValue{Value: aws.String("micro")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := running.Wait(ctx, ids, 2*time.Minute); err != nil {
		t.Fatalf("running after start: %v", err)
	}
	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	terminated := awsec2.NewInstanceTerminatedWaiter(c, func(o *awsec2.InstanceTerminatedWaiterOptions) { poll(&o.MinDelay, &o.MaxDelay) })
	if err := terminated.Wait(ctx, ids, time.Minute); err != nil {
		t.Fatalf("InstanceTerminatedWaiter: %v", err)
	}
}
