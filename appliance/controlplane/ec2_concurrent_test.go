package controlplane

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// TestEC2ConcurrentDescribesStayApart: two tenants' DescribeInstances,
// answered at the same time (their XML built in buffers the endpoint
// reuses, their VPC, subnet and group IDs hashed once per answer), each
// list exactly that tenant's instances, with its own tags and VPC, one
// instance per reservation, the reservation named after it.
func TestEC2ConcurrentDescribesStayApart(t *testing.T) {
	e := newEnvCap(t, nil, types.Host{CPUs: 1 << 10, MemBytes: 1 << 40})
	e.tinyImage("tiny")
	ctx := context.Background()
	type tenant struct {
		name  string
		count int32
		c     *awsec2.Client
		vpc   string
		ids   []string
	}
	ts := []*tenant{{name: "alice", count: 20}, {name: "bob", count: 3}}
	for _, tn := range ts {
		_, tok := e.tenant(tn.name)
		_, k := e.sdkClient(tok)
		// The SDK's default retryer, as a user's program has it (see
		// BenchmarkEC2Overhead): a retried read is still checked below.
		tn.c = awsec2.New(awsec2.Options{Region: ec2.DefaultRegion, BaseEndpoint: aws.String(e.srv.URL + ec2.Path),
			Credentials: credentials.NewStaticCredentialsProvider(k.ID, k.Secret, ""), HTTPClient: sdkHTTP(e.srv)})
		run, err := tn.c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
			MinCount: aws.Int32(tn.count), MaxCount: aws.Int32(tn.count),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String("Owner"), Value: aws.String(tn.name)}}}}})
		if err != nil {
			t.Fatalf("%s: RunInstances: %v", tn.name, err)
		}
		for _, in := range run.Instances {
			tn.ids = append(tn.ids, *in.InstanceId)
		}
		sort.Strings(tn.ids)
		vpcs, err := tn.c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{})
		if err != nil || len(vpcs.Vpcs) != 1 {
			t.Fatalf("%s: DescribeVpcs: %+v %v", tn.name, vpcs, err)
		}
		tn.vpc = *vpcs.Vpcs[0].VpcId
	}
	if ts[0].vpc == ts[1].vpc {
		t.Fatalf("both tenants have VPC %s", ts[0].vpc)
	}
	check := func(tn *tenant, out *awsec2.DescribeInstancesOutput) {
		var ids []string
		for _, r := range out.Reservations {
			if len(r.Instances) != 1 {
				t.Errorf("%s: reservation %s has %d instances", tn.name, *r.ReservationId, len(r.Instances))
				return
			}
			in := r.Instances[0]
			ids = append(ids, *in.InstanceId)
			if *r.ReservationId != "r-"+strings.TrimPrefix(*in.InstanceId, "i-") {
				t.Errorf("%s: %s in reservation %s", tn.name, *in.InstanceId, *r.ReservationId)
			}
			if *in.VpcId != tn.vpc || len(in.Tags) != 1 || *in.Tags[0].Value != tn.name {
				t.Errorf("%s: %s has VPC %s and tags %+v", tn.name, *in.InstanceId, *in.VpcId, in.Tags)
			}
		}
		if strings.Join(ids, ",") != strings.Join(tn.ids, ",") {
			t.Errorf("%s sees %v, launched %v", tn.name, ids, tn.ids)
		}
	}
	var wg sync.WaitGroup
	for _, tn := range ts {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 15 {
					out, err := tn.c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{})
					if err != nil {
						t.Errorf("%s: DescribeInstances: %v", tn.name, err)
						return
					}
					check(tn, out)
				}
			}()
		}
	}
	wg.Wait()
}
