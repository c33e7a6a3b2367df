package ec2

import (
	"bytes"
	"encoding/xml"
	"math/rand/v2"
	"testing"
)

// randText returns a short string drawn from characters that XML must
// escape, multi-byte and invalid UTF-8, and plain ones, or "".
func randText(r *rand.Rand) string {
	parts := []string{"", "a", "i-0123", "<", ">", "&", `"`, "'", "\t", "\n", "\r", "é", "\xff", "\x00", "\x1f", "]]>", "\u2028", "\U0001F600", "\uFFFE"}
	var b []byte
	for n := r.IntN(4); n > 0; n-- {
		b = append(b, parts[r.IntN(len(parts))]...)
	}
	return string(b)
}

func randItem(r *rand.Rand) instanceItem {
	s := func() string { return randText(r) }
	it := instanceItem{
		InstanceID: s(), ImageID: s(), State: instanceState{Code: r.IntN(100) - 10, Name: s()},
		PrivateDNSName: s(), DNSName: s(), Reason: s(), KeyName: s(), LaunchIndex: r.IntN(1000),
		InstanceType: s(), LaunchTime: s(), Zone: s(), Tenancy: s(), Monitoring: s(), SubnetID: s(),
		VpcID: s(), PrivateIP: s(), PublicIP: s(), StateReasonCode: s(), StateReasonMsg: s(),
		Architecture: s(), RootDeviceType: s(), RootDeviceName: s(), Virtualization: s(), Hypervisor: s(),
		CoreCount: r.IntN(64), ThreadsPerCore: r.IntN(3), HTTPTokens: s(), MetadataState: s(), HTTPEndpoint: s(),
		ClientToken: s(), EbsOptimized: r.IntN(2) == 0, SourceDestCheck: r.IntN(2) == 0, PlatformDetails: s(),
		CurrentInstBoot: s(), UsageOperation: s(),
	}
	for n := r.IntN(3); n > 0; n-- {
		it.Groups = append(it.Groups, groupRef{GroupID: s(), GroupName: s()})
	}
	if r.IntN(3) == 0 {
		it.Groups = []groupRef{}
	}
	for n := r.IntN(3); n > 0; n-- {
		it.Tags = append(it.Tags, tagItem{Key: s(), Value: s()})
	}
	return it
}

func randReservation(r *rand.Rand) reservation {
	res := reservation{ReservationID: randText(r), OwnerID: randText(r)}
	for n := r.IntN(3); n > 0; n-- {
		res.Groups = append(res.Groups, groupRef{GroupID: randText(r), GroupName: randText(r)})
	}
	for n := r.IntN(3); n > 0; n-- {
		res.Instances = append(res.Instances, randItem(r))
	}
	return res
}

// TestFastXMLMatchesEncodingXML: the hand-written encoders of the
// instance answers write exactly the bytes encoding/xml writes for the
// same values (the struct tags stay the specification), for random
// values full of characters XML must escape or replace.
func TestFastXMLMatchesEncodingXML(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		var out fastXML
		name := "DescribeInstancesResponse"
		if i%2 == 0 {
			d := &describeInstancesResponse{head: head{RequestID: randText(r)}, NextToken: randText(r)}
			if r.IntN(4) > 0 {
				d.Reservations = []reservation{}
			}
			for n := r.IntN(4); n > 0; n-- {
				d.Reservations = append(d.Reservations, randReservation(r))
			}
			out = d
		} else {
			name = "RunInstancesResponse"
			out = &runInstancesResponse{head: head{RequestID: randText(r)}, reservation: randReservation(r)}
		}
		want, err := xml.Marshal(wrapped{name: name, v: out})
		if err != nil {
			t.Fatal(err)
		}
		got := appendWrapped(nil, name, out)
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d (%s):\n got %q\nwant %q", i, name, got, want)
		}
	}
}

// BenchmarkDescribeInstancesXML encodes 100 typical instances both ways.
func BenchmarkDescribeInstancesXML(b *testing.B) {
	d := &describeInstancesResponse{Reservations: []reservation{}}
	for range 100 {
		it := instanceItem{InstanceID: "i-0123456789abcdef0", ImageID: "ami-0123456789abcdef0", State: instanceState{Code: 16, Name: "running"},
			PrivateDNSName: "ip-10-0-0-12.ec2.internal", Reason: "launched", KeyName: "laptop", InstanceType: "small",
			LaunchTime: "2026-12-07T03:00:00.000Z", Zone: "ironvisor-1a", Tenancy: "default", Monitoring: "disabled",
			SubnetID: "subnet-0123456789abcdef0", VpcID: "vpc-0123456789abcdef0", PrivateIP: "10.0.0.12",
			Groups: []groupRef{{GroupID: "sg-0123456789abcdef0", GroupName: "web"}}, Architecture: "x86_64",
			RootDeviceType: "ebs", RootDeviceName: "/dev/vda", Virtualization: "hvm", Hypervisor: "xen",
			Tags: []tagItem{{Key: "Name", Value: "web-1"}}, CoreCount: 1, ThreadsPerCore: 1, HTTPTokens: "optional",
			MetadataState: "applied", HTTPEndpoint: "enabled", SourceDestCheck: true, PlatformDetails: "Linux/UNIX",
			CurrentInstBoot: "legacy-bios", UsageOperation: "RunInstances"}
		d.Reservations = append(d.Reservations, reservation{ReservationID: "r-1", OwnerID: "t-1", Groups: it.Groups, Instances: []instanceItem{it}})
	}
	b.Run("encoding-xml", func(b *testing.B) {
		for b.Loop() {
			if _, err := xml.Marshal(wrapped{name: "DescribeInstancesResponse", v: d}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			appendWrapped(nil, "DescribeInstancesResponse", d)
		}
	})
}
