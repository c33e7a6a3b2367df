package boot

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/slots"
	"github.com/ironvisor/ironvisor/appliance/timeline"
)

func entry(t *testing.T, name, version string) slots.Entry {
	t.Helper()
	e, err := slots.ParseName(name)
	if err != nil {
		t.Fatal(err)
	}
	e.Version = version
	return e
}

// TestUpdaterRecordsRollback: a newer slot with no tries left beside the
// booted one is a rollback, recorded (durably) with the pending update's
// details and the reason the trial boot gave; the instances stay to be
// resumed. A counting booted slot is a trial with a deadline.
func TestUpdaterRecordsRollback(t *testing.T) {
	var out bytes.Buffer
	a := &appliance{o: Options{Console: &out}, tl: timeline.New(&out, time.Now(), 0), dataDir: t.TempDir()}
	u := &updater{a: a, espDev: "/dev/vda1"}
	u.rec = updateRecord{Pending: &hostinfo.UpdateResult{Outcome: "pending", Slot: "a", Generation: 3, Version: "v3", SHA256: "ab", Tries: 1},
		Failure: "not healthy within 5m0s: instance i-1 is pending", Resume: []string{"i-1"}}
	u.entries = []slots.Entry{entry(t, "ironvisor-3-a+0-1.efi", "v3"), entry(t, "ironvisor-2-b.efi", "v2")}
	st, err := slots.Assess(u.entries, entry(t, "ironvisor-2-b.efi", ""))
	if err != nil {
		t.Fatal(err)
	}
	u.status = st
	u.assess()
	last := u.rec.Last
	if last == nil || last.Outcome != "rolled back" || last.SHA256 != "ab" || u.rec.Pending != nil ||
		!strings.Contains(last.Reason, "slot a (version v3) used up its 1 boot tries without becoming healthy: not healthy within 5m0s: instance i-1 is pending; the loader booted slot b (version v2) again") {
		t.Fatalf("record %+v last %+v", u.rec, last)
	}
	if !strings.Contains(out.String(), "update: ROLLED BACK: slot a") {
		t.Errorf("console:\n%s", out.String())
	}
	var saved updateRecord
	b, err := os.ReadFile(filepath.Join(a.dataDir, updateFile))
	if err != nil || json.Unmarshal(b, &saved) != nil || saved.Last == nil || len(saved.Resume) != 1 {
		t.Fatalf("saved %s (%v)", b, err)
	}
	d := u.doc()
	if d.Booted != "b" || d.BootedVersion != "v2" || len(d.Slots) != 2 || d.Slots[0].State != "bad" || !d.Slots[1].Booted || d.Last == nil {
		t.Errorf("doc %+v", d)
	}

	// A trial boot.
	u.rec = updateRecord{}
	u.entries = []slots.Entry{entry(t, "ironvisor-4-a+2-1.efi", "v4"), entry(t, "ironvisor-2-b.efi", "v2")}
	u.status, _ = slots.Assess(u.entries, entry(t, "ironvisor-4-a+2-1.efi", ""))
	u.assess()
	if d := u.doc(); !d.Trial || d.TrialDeadline.IsZero() || d.Last != nil || d.Slots[0].TriesLeft == nil || *d.Slots[0].TriesLeft != 2 {
		t.Errorf("trial doc %+v", d)
	}
}

// TestTrialDeadlineIsConfigured: ironvisor.update_deadline sets a trial
// boot's deadline; without it the deadline is 5 minutes.
func TestTrialDeadlineIsConfigured(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want time.Duration
	}{{"", 5 * time.Minute}, {"30s", 30 * time.Second}} {
		var out bytes.Buffer
		a := &appliance{o: Options{Console: &out}, tl: timeline.New(&out, time.Now(), 0), dataDir: t.TempDir()}
		a.cfg.UpdateDeadline = tc.set
		u := &updater{a: a, espDev: "/dev/vda1"}
		u.entries = []slots.Entry{entry(t, "ironvisor-4-a+2-1.efi", "v4"), entry(t, "ironvisor-2-b.efi", "v2")}
		u.status, _ = slots.Assess(u.entries, entry(t, "ironvisor-4-a+2-1.efi", ""))
		before := time.Now()
		u.assess()
		if d := u.doc().TrialDeadline.Sub(before); d < tc.want || d > tc.want+time.Minute/2 {
			t.Errorf("update_deadline %q: the trial ends %v after it starts, want %v", tc.set, d, tc.want)
		}
		if !strings.Contains(out.String(), "within "+tc.want.String()) {
			t.Errorf("console:\n%s", out.String())
		}
	}
}
