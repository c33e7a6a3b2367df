package orchestrator

import (
	"errors"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// TestCapacityIsTheAdmins: the admin sees what every tenant's instances
// hold; a tenant, who would learn of the others', is refused.
func TestCapacityIsTheAdmins(t *testing.T) {
	e := newEnv(t, nil, nil)
	img := e.image("tiny", false)
	if _, err := e.o.Launch(tenant, LaunchSpec{Image: img, Type: "small", Count: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.o.Capacity(tenant); !errors.Is(err, apiv1.Forbidden) {
		t.Fatalf("tenant: %v, want Forbidden", err)
	}
	c, err := e.o.Capacity(auth.Principal{Admin: true})
	if err != nil || c.UsedVCPUs != 2 || c.UsedMemBytes != 1*types.GiB || c.VCPUBudget != 4 {
		t.Fatalf("admin: %+v, %v", c, err)
	}
}
