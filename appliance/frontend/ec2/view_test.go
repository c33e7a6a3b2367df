package ec2

import (
	"testing"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// TestViewIDsAreTheTenants: the VPC, subnet and group IDs of an instance
// item, which a view hashes once per answer and then reuses, are those
// hashID gives for the instance's own tenant, for every instance of the
// answer; another tenant's view of the same names gives other IDs.
func TestViewIDsAreTheTenants(t *testing.T) {
	insts := []lifecycle.Instance{
		{ID: "i-1", Network: "net-a", SecurityGroups: []string{"web", "db"}},
		{ID: "i-2", Network: "net-b", SecurityGroups: []string{"db"}},
		{ID: "i-3", Network: "net-a", SecurityGroups: []string{"web"}},
		{ID: "i-4", Network: "web", SecurityGroups: []string{"web"}},
		{ID: "i-5"},
	}
	seen := map[string]string{} // ID -> tenant
	for _, tenant := range []string{"t-alice", "t-bob"} {
		v := emptyView(tenant, "zone-a")
		for _, in := range insts {
			it := v.instance(in)
			if it.VpcID != vpcID(tenant) {
				t.Errorf("%s %s: VpcID %s, want %s", tenant, in.ID, it.VpcID, vpcID(tenant))
			}
			want := ""
			if in.Network != "" {
				want = subnetID(tenant, in.Network)
			}
			if it.SubnetID != want {
				t.Errorf("%s %s: SubnetID %q, want %q", tenant, in.ID, it.SubnetID, want)
			}
			if len(it.Groups) != len(in.SecurityGroups) {
				t.Fatalf("%s %s: groups %v, want %v", tenant, in.ID, it.Groups, in.SecurityGroups)
			}
			for i, g := range in.SecurityGroups {
				if it.Groups[i] != (groupRef{GroupID: groupID(tenant, g), GroupName: g}) {
					t.Errorf("%s %s: group %d is %+v, want %s of %s", tenant, in.ID, i, it.Groups[i], g, tenant)
				}
			}
			for _, id := range append([]string{it.VpcID, it.SubnetID}, groupIDs(it.Groups)...) {
				if other, ok := seen[id]; ok && other != tenant && id != "" {
					t.Errorf("%s is both %s's and %s's", id, other, tenant)
				}
				seen[id] = tenant
			}
		}
	}
}

func groupIDs(gs []groupRef) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.GroupID)
	}
	return out
}

// TestAnswerBufs: a buffer from the pool is always empty, and one that
// grew beyond maxPooledAnswer is not kept for the next answer.
func TestAnswerBufs(t *testing.T) {
	bp := getAnswerBuf()
	putAnswerBuf(bp, append(*bp, "<leftover/>"...))
	big := getAnswerBuf()
	putAnswerBuf(big, make([]byte, 10, maxPooledAnswer+1))
	for range 100 {
		bp := getAnswerBuf()
		if len(*bp) != 0 || cap(*bp) > maxPooledAnswer {
			t.Fatalf("buffer from the pool: len %d cap %d", len(*bp), cap(*bp))
		}
		defer putAnswerBuf(bp, *bp)
	}
}
