package lifecycle

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// BenchmarkLaunchAndBoot measures one durable launch of a nano instance
// followed by its booted transition: two fsync'd store transactions, the
// control-plane cost of a launch without the VMM.
func BenchmarkLaunchAndBoot(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	m := NewManager(db, SystemClock{}, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50})
	ctx := context.Background()
	for b.Loop() {
		in, err := m.Launch(LaunchSpec{TenantID: "t-b", Image: "tiny", Type: "nano", Count: 1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Apply(ctx, in[0].ID, Booted, Change{Reason: "up"}); err != nil {
			b.Fatal(err)
		}
	}
}
