package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/datadisk"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/slots"
	"github.com/ironvisor/ironvisor/config"

	"github.com/ironvisor/ironvisor/appliance/durable"
)

// The self-update, PID 1's side of package slots: the "slots" boot step
// reads which slot booted and how the last update ended; POST
// /v1/host/update installs a new image into the other slot, stops the
// instances gracefully and reboots; a trial boot is blessed once healthy
// within the update deadline (ironvisor.update_deadline), or reboots to spend a try, so that systemd-boot
// falls back to the previous slot when the tries run out.

const (
	// espMount is where PID 1 mounts the ESP while it reads or changes
	// the slots; it is unmounted again at once, so a power cut finds the
	// FAT file system clean.
	espMount = "/run/ironvisor/esp"
	// efivarsDir is where efivarfs shows the loader's variables.
	efivarsDir = "/sys/firmware/efi/efivars"
	// updateFile, in DataDir, records an update across its reboot.
	updateFile = "update.json"
	// updateStopGrace is each instance's graceful stop before the reboot.
	updateStopGrace = 10 * time.Second
	// maxUKI bounds an installed image.
	maxUKI = 1 << 30
)

// slotModules mount the ESP (FAT with its code page and character set)
// and show the loader's EFI variables.
var slotModules = []string{"vfat", "nls_cp437", "nls_ascii", "nls_utf8", "efivarfs"}

// updateRecord is updateFile.
type updateRecord struct {
	// Pending is the update installed and rebooted into, until it is
	// blessed or rolled back.
	Pending *hostinfo.UpdateResult `json:"pending,omitempty"`
	// Failure is what a trial boot found missing at its deadline.
	Failure string `json:"failure,omitempty"`
	// Resume are the instances to start again after the reboot.
	Resume []string `json:"resume,omitempty"`
	// Last is how the last update ended.
	Last *hostinfo.UpdateResult `json:"last,omitempty"`
}

// updater is PID 1's self-update.
type updater struct {
	a *appliance

	mu       sync.Mutex
	espDev   string // "" when updates are not possible (doc.Error says why)
	entries  []slots.Entry
	status   slots.Status
	rec      updateRecord
	errText  string
	busy     bool
	deadline time.Time
}

// logf logs on the console and the timeline.
func (u *updater) logf(format string, args ...any) { u.a.tl.Logf("update: "+format, args...) }

// open is the "slots" boot step: it finds the ESP on the data
// partition's disk, reads which slot the loader booted and assesses the
// slots against the update record: a newer slot with no tries left is a
// rollback, recorded with its reason; a counting booted slot is a trial.
// A box that did not boot through systemd-boot from its own disk serves
// on, without updates, and says why in /v1/host.
func (u *updater) open() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.loadRecord(); err != nil {
		u.logf("%v", err)
	}
	if _, err := os.Stat("/sys/firmware/efi"); err != nil {
		u.errText = "not booted with UEFI: no boot slots to update"
		return nil
	}
	LoadModules(slotModules, *u.a.o.ModuleOpts, u.a.tl.Logf)
	if err := unix.Mount("efivarfs", efivarsDir, "efivarfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		u.errText = fmt.Sprintf("mount efivarfs: %v", err)
		return errors.New(u.errText)
	}
	f, err := datadisk.Find(systemPlace.SysBlock, systemPlace.Dev)
	if err == nil {
		u.espDev = datadisk.ESPDevice(systemPlace.SysBlock, systemPlace.Dev, f)
	}
	if u.espDev == "" {
		u.errText = "no EFI system partition beside the data partition: no boot slots to update"
		return nil
	}
	booted, err := slots.Booted(efivarsDir)
	if err != nil {
		u.espDev, u.errText = "", fmt.Sprintf("not booted through systemd-boot from a slot: %v", err)
		return nil
	}
	if err := u.readSlots(); err != nil {
		u.espDev, u.errText = "", err.Error()
		return err
	}
	st, err := slots.Assess(u.entries, booted)
	if err != nil {
		u.espDev, u.errText = "", err.Error()
		return err
	}
	u.status = st
	u.assess()
	return nil
}

// readSlots lists the slots on the ESP (mounted read-only for it).
func (u *updater) readSlots() error {
	return u.withESP(false, func(esp slots.ESP) (err error) {
		u.entries, err = esp.List()
		return err
	})
}

// assess records a rollback, or starts a trial boot's deadline.
func (u *updater) assess() {
	st, now := u.status, time.Now()
	b := st.Booted
	switch {
	case st.Failed != nil:
		f := st.Failed
		last := hostinfo.UpdateResult{Slot: f.Slot, Generation: f.Gen, Version: f.Version, FromSlot: b.Slot, FromVersion: b.Version}
		if p := u.rec.Pending; p != nil && p.Generation == f.Gen {
			last = *p
		}
		last.Outcome, last.Ended = "rolled back", now
		last.Reason = u.rec.Failure
		if last.Reason == "" {
			last.Reason = fmt.Sprintf("no boot of slot %s reached a healthy appliance (its kernel or PID 1 failed before the API came up)", f.Slot)
		}
		last.Reason = fmt.Sprintf("slot %s (version %s) used up its %d boot tries without becoming healthy: %s; the loader booted slot %s (version %s) again",
			f.Slot, f.Version, f.TriesDone, last.Reason, b.Slot, b.Version)
		if u.rec.Last == nil || u.rec.Last.Generation != f.Gen || u.rec.Last.Outcome != last.Outcome {
			u.rec.Last = &last
			u.logf("ROLLED BACK: %s", last.Reason)
		}
		u.rec.Pending, u.rec.Failure = nil, ""
		u.saveRecord()
	case st.Trial:
		u.deadline = now.Add(u.deadlineDur())
		u.logf("trial boot of slot %s (version %s, generation %d, %d tries left): it is blessed once healthy, within %v",
			b.Slot, b.Version, b.Gen, b.TriesLeft, u.deadlineDur())
	default:
		u.logf("booted slot %s (version %s, generation %d)", b.Slot, b.Version, b.Gen)
	}
}

// afterAPI runs once the API is up: it starts the instances the update
// stopped and, on a trial boot, blesses the slot once healthy, or
// reboots at the deadline to spend a try.
func (u *updater) afterAPI() {
	u.mu.Lock()
	resume, trial, deadline := u.rec.Resume, u.status.Trial, u.deadline
	u.mu.Unlock()
	if !trial && len(resume) == 0 {
		return
	}
	if !trial {
		deadline = time.Now().Add(u.deadlineDur())
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	missing := u.resume(ctx, resume)
	if missing == "" {
		missing = u.waitHealthy(ctx, resume)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !trial {
		u.rec.Resume = nil
		u.saveRecord()
		if missing != "" {
			u.logf("after the rollback: %s", missing)
		}
		return
	}
	if missing != "" {
		u.rec.Failure = fmt.Sprintf("not healthy within %v: %s", u.deadlineDur(), missing)
		u.saveRecord()
		u.logf("slot %s is %s; rebooting to spend a try", u.status.Booted.Slot, u.rec.Failure)
		u.a.sigs <- unix.SIGUSR1
		return
	}
	var good slots.Entry
	err := u.withESP(true, func(esp slots.ESP) (err error) {
		good, err = esp.Bless(u.status.Booted)
		return err
	})
	if err != nil {
		u.logf("bless: %v", err)
		return
	}
	u.status.Booted, u.status.Trial = good, false
	u.readSlots()
	last := hostinfo.UpdateResult{Slot: good.Slot, Generation: good.Gen, Version: good.Version}
	if p := u.rec.Pending; p != nil && p.Generation == good.Gen {
		last = *p
	}
	last.Outcome, last.Ended, last.Resumed = "updated", time.Now(), resume
	u.rec.Last, u.rec.Pending, u.rec.Resume, u.rec.Failure = &last, nil, nil, ""
	u.saveRecord()
	u.logf("slot %s (version %s) is healthy: blessed as %s", good.Slot, good.Version, good.File)
}

// deadlineDur bounds a trial boot's way to healthy (API up, store open,
// the instances that ran before the update running again):
// ironvisor.update_deadline, 5 minutes by default.
func (u *updater) deadlineDur() time.Duration {
	d, _ := config.ParseUpdateDeadline(u.a.cfg.UpdateDeadline) // sanitised; the default otherwise
	return d
}

// resume starts the instances in ids again; it returns what failed.
func (u *updater) resume(ctx context.Context, ids []string) string {
	p := u.a.plane
	if len(ids) == 0 {
		return ""
	}
	if p == nil {
		return "no control plane"
	}
	for _, id := range ids {
		if _, err := p.CP.StartInstance(ctx, id); err != nil {
			return fmt.Sprintf("start instance %s: %v", id, err)
		}
	}
	u.logf("started %d instances that ran before the update", len(ids))
	return ""
}

// waitHealthy waits until the control plane passes its health check and
// every instance in ids runs; at ctx's end it returns what is missing.
func (u *updater) waitHealthy(ctx context.Context, ids []string) string {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := u.unhealthy(ctx, ids)
		if missing == "" {
			return ""
		}
		select {
		case <-ctx.Done():
			return missing
		case <-tick.C:
		}
	}
}

// unhealthy says what is not healthy yet, "" when all is.
func (u *updater) unhealthy(ctx context.Context, ids []string) string {
	p := u.a.plane
	if p == nil {
		return "the control plane did not open"
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := u.a.healthCheck(p)(cctx); err != nil {
		return fmt.Sprintf("health check: %v", err)
	}
	for _, id := range ids {
		in, err := p.CP.Instance(id)
		if err != nil {
			return fmt.Sprintf("instance %s: %v", id, err)
		}
		if in.State != lifecycle.Running {
			return fmt.Sprintf("instance %s is %s (%s)", id, in.State, in.Reason)
		}
	}
	return ""
}

// install is the apiv1.HostUpdater: it writes the image into the slot
// that did not boot, records the update with the instances to resume,
// and, once it has answered, stops them and reboots.
func (u *updater) install(ctx context.Context, body io.Reader, url, sum string, tries int) (apiv1.HostUpdate, error) {
	if u == nil {
		return apiv1.HostUpdate{}, fmt.Errorf("%w: no updater", apiv1.IncorrectState)
	}
	u.mu.Lock()
	switch {
	case u.espDev == "":
		u.mu.Unlock()
		return apiv1.HostUpdate{}, fmt.Errorf("%w: %s", apiv1.IncorrectState, u.errText)
	case u.busy:
		u.mu.Unlock()
		return apiv1.HostUpdate{}, fmt.Errorf("%w: an update is already under way", apiv1.IncorrectState)
	case u.status.Trial:
		u.mu.Unlock()
		return apiv1.HostUpdate{}, fmt.Errorf("%w: slot %s is still on trial; update once it is blessed", apiv1.IncorrectState, u.status.Booted.Slot)
	}
	u.busy = true
	booted := u.status.Booted
	u.mu.Unlock()
	out, err := u.installImage(ctx, body, url, sum, tries, booted)
	if err != nil {
		u.mu.Lock()
		u.busy = false
		u.mu.Unlock()
		return out, err
	}
	go u.stopAndReboot(out.Slot)
	return out, nil
}

// installImage fetches (with a url) and installs the image and records
// the pending update.
func (u *updater) installImage(ctx context.Context, body io.Reader, url, sum string, tries int, booted slots.Entry) (apiv1.HostUpdate, error) {
	if tries == 0 {
		tries = slots.DefaultTries
	}
	if body == nil {
		rc, err := fetch(ctx, url)
		if err != nil {
			return apiv1.HostUpdate{}, err
		}
		defer rc.Close()
		body = rc
	}
	start := time.Now()
	var en slots.Entry
	err := u.withESP(true, func(esp slots.ESP) (err error) {
		en, err = esp.Install(body, sum, maxUKI, booted.Slot, tries)
		return err
	})
	if errors.Is(err, slots.ErrRefused) {
		err = fmt.Errorf("%w: %w", apiv1.InvalidParameter, err)
	}
	if err != nil {
		return apiv1.HostUpdate{}, err
	}
	u.logf("installed version %s (%d bytes, sha256 %s) in slot %s as %s in %.1fs", en.Version, en.Size, sum, en.Slot, en.File, time.Since(start).Seconds())
	res := hostinfo.UpdateResult{Outcome: "pending", Slot: en.Slot, Generation: en.Gen, Version: en.Version, SHA256: sum,
		FromSlot: booted.Slot, FromVersion: booted.Version, Tries: tries, Requested: start}
	var ids []string
	if p := u.a.plane; p != nil {
		ids, err = p.CP.ActiveInstances()
		if err != nil {
			u.logf("list instances: %v (none will be resumed)", err)
		}
	}
	u.mu.Lock()
	u.rec.Pending, u.rec.Failure, u.rec.Resume = &res, "", ids
	u.saveRecord()
	u.readSlots()
	u.mu.Unlock()
	return apiv1.HostUpdate{UpdateResult: res, SizeBytes: en.Size, Rebooting: true}, nil
}

// fetch GETs url, streamed.
func fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q: %v", apiv1.InvalidParameter, url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %v", apiv1.InvalidParameter, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: fetch %s: %s", apiv1.InvalidParameter, url, resp.Status)
	}
	return resp.Body, nil
}

// stopAndReboot stops the active instances gracefully, all at once, and
// reboots into slot.
func (u *updater) stopAndReboot(slot string) {
	u.mu.Lock()
	ids := u.rec.Resume
	u.mu.Unlock()
	if p := u.a.plane; p != nil && len(ids) > 0 {
		start := time.Now()
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), updateStopGrace+30*time.Second)
				defer cancel()
				if _, err := p.CP.StopInstance(ctx, id, updateStopGrace); err != nil {
					u.logf("stop instance %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		u.logf("stopped %d instances in %.1fs", len(ids), time.Since(start).Seconds())
	}
	u.logf("rebooting into slot %s", slot)
	u.a.sigs <- unix.SIGUSR1
}

// doc is the update's part of /v1/host.
func (u *updater) doc() *hostinfo.Update {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	d := &hostinfo.Update{Slots: []hostinfo.Slot{}, Error: u.errText, Pending: u.rec.Pending, Last: u.rec.Last}
	if u.espDev == "" {
		return d
	}
	b := u.status.Booted
	d.Booted, d.BootedVersion, d.Trial = b.Slot, b.Version, u.status.Trial
	if d.Trial {
		d.TrialDeadline = u.deadline
	}
	for _, e := range u.entries {
		s := hostinfo.Slot{Name: e.Slot, File: e.File, Generation: e.Gen, Version: e.Version, State: e.State(),
			Booted: e.Slot == b.Slot && e.Gen == b.Gen, SizeBytes: e.Size}
		if e.Counting() {
			left := e.TriesLeft
			s.TriesLeft = &left
		}
		d.Slots = append(d.Slots, s)
	}
	return d
}

// withESP mounts the ESP (read-write when rw), runs fn on it, syncs and
// unmounts it.
func (u *updater) withESP(rw bool, fn func(slots.ESP) error) error {
	if err := os.MkdirAll(espMount, 0o700); err != nil {
		return err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if !rw {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(u.espDev, espMount, "vfat", flags, ""); err != nil {
		return fmt.Errorf("mount the ESP %s: %w", u.espDev, err)
	}
	err := fn(slots.ESP{Root: espMount})
	unix.Sync()
	if uerr := unix.Unmount(espMount, 0); uerr != nil {
		err = errors.Join(err, fmt.Errorf("unmount the ESP: %w", uerr))
	}
	return err
}

// loadRecord reads updateFile; none is an empty record.
func (u *updater) loadRecord() error {
	b, err := os.ReadFile(filepath.Join(u.a.dataDir, updateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &u.rec)
	}
	if err != nil {
		u.rec = updateRecord{}
		return fmt.Errorf("read %s: %w (starting afresh)", updateFile, err)
	}
	return nil
}

// saveRecord writes updateFile durably (temporary file, sync, rename).
func (u *updater) saveRecord() {
	path := filepath.Join(u.a.dataDir, updateFile)
	b, _ := json.MarshalIndent(u.rec, "", "  ")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write(b)
		err = errors.Join(err, f.Sync(), f.Close())
	}
	if err == nil {
		err = durable.Rename(tmp, path)
	}
	if err != nil {
		u.logf("save %s: %v", updateFile, err)
	}
}
