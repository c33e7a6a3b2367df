package controlplane

import (
	"context"
	"time"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// The host's own hands on instances, for PID 1's self-update: the
// instances running before an update are stopped gracefully before the
// reboot and started again after it. They act as the admin.

// hostPrincipal is who the host acts as.
var hostPrincipal = auth.Principal{Admin: true}

// ActiveInstances returns the IDs of every tenant's pending or running
// instances.
func (cp *ControlPlane) ActiveInstances() ([]string, error) {
	all, err := cp.orch.Instances(hostPrincipal)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, in := range all {
		if in.State == lifecycle.Running || in.State == lifecycle.Pending {
			ids = append(ids, in.ID)
		}
	}
	return ids, nil
}

// StopInstance stops instance id, forcing it after graceful.
func (cp *ControlPlane) StopInstance(ctx context.Context, id string, graceful time.Duration) (lifecycle.Instance, error) {
	return cp.orch.StopWithin(ctx, hostPrincipal, id, false, graceful)
}

// StartInstance starts the stopped instance id; it boots in the
// background.
func (cp *ControlPlane) StartInstance(ctx context.Context, id string) (lifecycle.Instance, error) {
	return cp.orch.Start(ctx, hostPrincipal, id)
}
