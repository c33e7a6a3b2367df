package controlplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// BenchmarkLaunchOnBusyHost times one tenant's POST /v1/instances on
// appliances where another tenant already has 0, 1000 and 10000
// instances, in turn (rotating which goes first), and reports each
// size's median and its ratio to the empty host's. The whole launch path
// runs (authentication, validation, the quota and capacity checks in the
// launch's transaction, the fsync'd commit); service mode without a
// hypervisor, so launches stay pending. Another tenant's instances must
// not make a launch slower: the quota check reads the lifecycle's running
// totals instead of decoding every instance.
func BenchmarkLaunchOnBusyHost(b *testing.B) {
	sizes := []int{0, 1000, 10000}
	clients := make([]*apiv1.Client, len(sizes))
	ctx := context.Background()
	for i, n := range sizes {
		e := newEnvCap(b, nil, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50}, func(c *Config) { c.Rate = -1 })
		e.tinyImage("tiny")
		for _, name := range []string{"busy", "bench"} {
			id, tok := e.tenant(name)
			e.must(200, "PUT", "/v1/tenants/"+id+"/quotas", e.admin, map[string]int{"instances": 1 << 20}, nil)
			clients[i] = apiv1.NewClient(e.srv.URL, tok, e.srv.Client())
			for left := n; name == "busy" && left > 0; left -= 100 {
				if _, err := clients[i].Launch(ctx, apiv1.LaunchRequest{Image: "tiny", Type: "nano", Count: aws.Int(min(left, 100))}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	took := make([][]time.Duration, len(sizes))
	round := 0
	for b.Loop() {
		for k := range sizes {
			i := (k + round) % len(sizes)
			t0 := time.Now()
			if _, err := clients[i].Launch(ctx, apiv1.LaunchRequest{Image: "tiny", Type: "nano", Count: aws.Int(1)}); err != nil {
				b.Fatal(err)
			}
			took[i] = append(took[i], time.Since(t0))
		}
		round++
	}
	base := pct(took[0], 50)
	for i, n := range sizes {
		b.ReportMetric(ms(pct(took[i], 50)), fmt.Sprintf("ms-launch-%d", n))
		b.ReportMetric(float64(pct(took[i], 50))/float64(base), fmt.Sprintf("ratio-launch-%d", n))
	}
}
