package racktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"mime/multipart"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// PowerCutsEnv sets how many power cuts TestPowerLoss makes: 3 in `make
// test`, 50 in `make bench` (build/bench/powerloss.sh).
const PowerCutsEnv = "IRONVISOR_POWER_CUTS"

// powerWriteFor bounds the random time the writers run before a cut.
const powerWriteFor = 3 * time.Second

// TestPowerLoss is issue 10's power-loss test: the appliance boots on an
// ext4 data disk, and while clients write through its API (tenants
// created, images with a 512 KiB initrd uploaded, instances launched and
// terminated), it loses power at a random point: QEMU is killed and the
// host's page cache of the disk image is dropped, so that what the guest
// had not flushed is gone. After each cut the appliance must come up on
// the same disk with no failed boot step, and every change it
// acknowledged before the cut must be there: each tenant, each image,
// each launched instance, and each acknowledged termination.
func TestPowerLoss(t *testing.T) {
	artefactsOrSkip(t)
	cuts := 3
	if s := os.Getenv(PowerCutsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", PowerCutsEnv, s)
		}
		cuts = n
	}
	img := dataDisk(t, t.TempDir(), "ext4", 512<<20)
	const cmdline = "ironvisor.hostname=rack-power ironvisor.data=LABEL=ivdata"
	disk := []string{"-drive", "file=" + img + ",if=virtio,format=raw"}
	seed := uint64(time.Now().UnixNano())
	r := mrand.New(mrand.NewPCG(seed, 10))
	t.Logf("power loss: %d cuts, seed %d", cuts, seed)

	var acked powerAcks
	var adminToken string
	var boots []time.Duration
	start := time.Now()
	for cut := 0; cut <= cuts; cut++ {
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
		t0 := time.Now()
		srv := startAppliance(ctx, t, fmt.Sprintf("power%d", cut), cmdline, disk)
		boots = append(boots, time.Since(t0))
		b, err := rack.ParseBanner(srv.Console.String())
		if err != nil {
			t.Fatal(err)
		}
		if cut == 0 {
			adminToken = b.AdminToken
			if adminToken == "" {
				t.Fatal("the first boot on an empty data disk shows no admin token")
			}
		} else if b.AdminToken != "" {
			t.Fatalf("boot after cut %d shows a new admin token: the store was lost", cut)
		}
		for _, bad := range []string{"IRONVISOR FAILED", "WARNING  the state"} {
			if err := srv.Console.NotSeen(bad); err != nil {
				t.Fatalf("boot after cut %d: %v\n%s", cut, err, srv.Console.Tail(40))
			}
		}
		admin, err := srv.API(8080, b.Fingerprint, adminToken)
		if err != nil {
			t.Fatal(err)
		}
		if cut > 0 {
			acked.check(ctx, t, admin, cut)
		}
		if cut == cuts {
			cancel()
			srv.Stop()
			break
		}
		// Write, and cut the power somewhere in the middle.
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, w := range []func(context.Context, *rack.API, int){acked.tenants, acked.images, acked.launches} {
			wg.Add(1)
			go func() { defer wg.Done(); w(wctx, admin, cut) }()
		}
		// The cut comes at a random point of the writes: a delay, not
		// a wait for an event.
		select {
		case <-time.After(time.Duration(r.Int64N(int64(powerWriteFor)))):
		case <-srv.Done():
			t.Fatalf("the appliance's server stopped on its own before cut %d:\n%s", cut+1, srv.Console.Tail(40))
		}
		srv.Stop() // the power cut: QEMU killed
		dropPageCache(t, img)
		stop()
		wg.Wait()
		cancel()
	}
	slices.Sort(boots)
	fmt.Printf("POWERLOSS cuts=%d seconds=%.0f boot-median-s=%.1f boot-max-s=%.1f tenants=%d images=%d launches=%d terminations=%d seed=%d\n",
		cuts, time.Since(start).Seconds(), boots[len(boots)/2].Seconds(), boots[len(boots)-1].Seconds(),
		len(acked.tenantIDs), len(acked.imageNames), len(acked.launched), len(acked.terminated), seed)
}

// dropPageCache drops the host's cached pages of the disk image, as a
// power cut loses whatever had not reached the disk.
func dropPageCache(t *testing.T, img string) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("drop the page cache of %s: %v", img, err)
	}
}

// powerAcks are the changes the appliance acknowledged across the cuts.
type powerAcks struct {
	mu         sync.Mutex
	tenantIDs  []string
	imageNames []string
	launched   []string
	terminated []string
	// user is a tenant's token for the launches; images holds a
	// launchable image.
	user string
}

// tenants creates tenants until ctx ends.
func (p *powerAcks) tenants(ctx context.Context, admin *rack.API, cut int) {
	for i := 0; ctx.Err() == nil; i++ {
		var tc struct{ ID, Token string }
		if err := admin.SendJSON(ctx, "POST", "/v1/tenants", map[string]string{"name": fmt.Sprintf("p%d-%d", cut, i)}, &tc); err != nil {
			continue
		}
		p.mu.Lock()
		p.tenantIDs = append(p.tenantIDs, tc.ID)
		if p.user == "" {
			p.user = tc.Token
		}
		p.mu.Unlock()
	}
}

// images uploads images of a tiny kernel and a 512 KiB initrd until ctx
// ends.
func (p *powerAcks) images(ctx context.Context, admin *rack.API, cut int) {
	initrd := make([]byte, 512<<10)
	rand.Read(initrd)
	kernel := testutil.PVHHello("POWER\n", testutil.ExitHalt)
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("img-%d-%d", cut, i)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("name", name)
		mw.WriteField("cmdline", "console=ttyS0")
		kw, _ := mw.CreateFormFile("kernel", "tiny.elf")
		kw.Write(kernel)
		iw, _ := mw.CreateFormFile("initrd", "initrd")
		iw.Write(initrd)
		mw.Close()
		if _, err := admin.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), &body); err != nil {
			continue
		}
		p.mu.Lock()
		p.imageNames = append(p.imageNames, name)
		p.mu.Unlock()
	}
}

// launches launches a nano instance of the first acknowledged image with
// the first tenant's token and terminates it, until ctx ends.
func (p *powerAcks) launches(ctx context.Context, admin *rack.API, _ int) {
	for ctx.Err() == nil {
		p.mu.Lock()
		user, ok := p.user, len(p.imageNames) > 0
		var image string
		if ok {
			image = p.imageNames[0]
		}
		p.mu.Unlock()
		if user == "" || !ok {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // the other writers have not got that far
			}
			continue
		}
		u := *admin
		u.Token = user
		var got []instance
		if err := u.SendJSON(ctx, "POST", "/v1/instances", map[string]any{"image": image, "type": "nano"}, &got); err != nil || len(got) != 1 {
			continue
		}
		p.mu.Lock()
		p.launched = append(p.launched, got[0].ID)
		p.mu.Unlock()
		var in instance
		if err := u.SendJSON(ctx, "DELETE", "/v1/instances/"+got[0].ID, nil, &in); err == nil && in.State == "terminated" {
			p.mu.Lock()
			p.terminated = append(p.terminated, got[0].ID)
			p.mu.Unlock()
		}
	}
}

// check fails unless every acknowledged change is in the appliance's
// answers after the cut.
func (p *powerAcks) check(ctx context.Context, t *testing.T, admin *rack.API, cut int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var tenants []struct{ ID string }
	if err := admin.GetJSON(ctx, "/v1/tenants", &tenants); err != nil {
		t.Fatalf("after cut %d: %v", cut, err)
	}
	have := map[string]bool{}
	for _, tn := range tenants {
		have[tn.ID] = true
	}
	for _, id := range p.tenantIDs {
		if !have[id] {
			t.Fatalf("after cut %d: acknowledged tenant %s is gone", cut, id)
		}
	}
	var images []struct{ Name string }
	if err := admin.GetJSON(ctx, "/v1/images", &images); err != nil {
		t.Fatalf("after cut %d: %v", cut, err)
	}
	clear(have)
	for _, im := range images {
		have[im.Name] = true
	}
	for _, name := range p.imageNames {
		if !have[name] {
			t.Fatalf("after cut %d: acknowledged image %s is gone", cut, name)
		}
	}
	if p.user == "" {
		return
	}
	u := *admin
	u.Token = p.user
	var insts []instance
	if err := u.GetJSON(ctx, "/v1/instances", &insts); err != nil {
		t.Fatalf("after cut %d: %v", cut, err)
	}
	state := map[string]string{}
	for _, in := range insts {
		state[in.ID] = in.State
	}
	for _, id := range p.launched {
		if _, ok := state[id]; !ok {
			t.Fatalf("after cut %d: acknowledged instance %s is gone", cut, id)
		}
	}
	for _, id := range p.terminated {
		if state[id] != "terminated" {
			t.Fatalf("after cut %d: instance %s was terminated, now %s", cut, id, state[id])
		}
	}
	t.Logf("after cut %d: %d tenants, %d images, %d launches, %d terminations acknowledged, all there",
		cut, len(p.tenantIDs), len(p.imageNames), len(p.launched), len(p.terminated))
}
