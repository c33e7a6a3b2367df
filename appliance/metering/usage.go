package metering

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Totals is usage in exact integer units.
type Totals struct {
	// RunningMillis is time in running, in milliseconds.
	RunningMillis int64
	// VCPUMillis is the sum of vCPUs × milliseconds.
	VCPUMillis int64
	// MiBMillis is the sum of MiB of memory × milliseconds.
	MiBMillis int64
}

// Seconds returns the running time in seconds.
func (t Totals) Seconds() float64 { return float64(t.RunningMillis) / 1000 }

// VCPUSeconds returns vCPU-seconds.
func (t Totals) VCPUSeconds() float64 { return float64(t.VCPUMillis) / 1000 }

// GiBSeconds returns GiB-seconds of memory.
func (t Totals) GiBSeconds() float64 { return float64(t.MiBMillis) / 1024 / 1000 }

// add accumulates u into t.
func (t *Totals) add(u Totals) {
	t.RunningMillis += u.RunningMillis
	t.VCPUMillis += u.VCPUMillis
	t.MiBMillis += u.MiBMillis
}

// MarshalJSON renders both the exact integers and the derived seconds.
func (t Totals) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seconds     float64 `json:"seconds"`
		VCPUSeconds float64 `json:"vcpu_seconds"`
		GiBSeconds  float64 `json:"gib_seconds"`
		RunningMs   int64   `json:"running_ms"`
		VCPUMs      int64   `json:"vcpu_ms"`
		MiBMs       int64   `json:"mib_ms"`
	}{t.Seconds(), t.VCPUSeconds(), t.GiBSeconds(), t.RunningMillis, t.VCPUMillis, t.MiBMillis})
}

// InstanceUsage is one instance's usage in the window.
type InstanceUsage struct {
	InstanceID string            `json:"instance_id"`
	TenantID   string            `json:"tenant_id"`
	Total      Totals            `json:"total"`
	ByType     map[string]Totals `json:"by_type"`
}

// TenantUsage is one tenant's usage in the window.
type TenantUsage struct {
	TenantID  string            `json:"tenant_id"`
	Total     Totals            `json:"total"`
	ByType    map[string]Totals `json:"by_type"`
	Instances []InstanceUsage   `json:"instances"`
}

// Report is the answer to a usage query over [From, To).
type Report struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	AsOf    time.Time     `json:"as_of"`
	Tenants []TenantUsage `json:"tenants"`
}

// Compute sums intervals over [from, to). Open intervals count up to now
// (or their checkpoint if the clock stepped back below it). If tenantID is
// not empty only that tenant is included. Only tenants and instances with
// usage in the window appear, sorted by ID.
func Compute(ivs []Interval, from, to, now time.Time, tenantID string) Report {
	r := Report{From: from, To: to, AsOf: now, Tenants: []TenantUsage{}}
	byTenant := map[string]*TenantUsage{}
	byInst := map[string]*InstanceUsage{}
	for _, iv := range ivs {
		if tenantID != "" && iv.TenantID != tenantID {
			continue
		}
		u, ok := clip(iv, from, to, now)
		if !ok {
			continue
		}
		tu := byTenant[iv.TenantID]
		if tu == nil {
			tu = &TenantUsage{TenantID: iv.TenantID, ByType: map[string]Totals{}}
			byTenant[iv.TenantID] = tu
		}
		iu := byInst[iv.InstanceID]
		if iu == nil {
			iu = &InstanceUsage{InstanceID: iv.InstanceID, TenantID: iv.TenantID, ByType: map[string]Totals{}}
			byInst[iv.InstanceID] = iu
		}
		addTo(&tu.Total, tu.ByType, iv.Type, u)
		addTo(&iu.Total, iu.ByType, iv.Type, u)
	}
	for _, iu := range byInst {
		tu := byTenant[iu.TenantID]
		tu.Instances = append(tu.Instances, *iu)
	}
	for _, tu := range byTenant {
		sort.Slice(tu.Instances, func(i, j int) bool { return tu.Instances[i].InstanceID < tu.Instances[j].InstanceID })
		r.Tenants = append(r.Tenants, *tu)
	}
	sort.Slice(r.Tenants, func(i, j int) bool { return r.Tenants[i].TenantID < r.Tenants[j].TenantID })
	return r
}

// addTo adds u to total and to byType[typ].
func addTo(total *Totals, byType map[string]Totals, typ string, u Totals) {
	total.add(u)
	t := byType[typ]
	t.add(u)
	byType[typ] = t
}

// clip returns the usage of iv inside [from, to), and false if none.
func clip(iv Interval, from, to, now time.Time) (Totals, bool) {
	end := latest(now, iv.Checkpoint)
	if iv.End != nil {
		end = *iv.End
	}
	s, e := latest(iv.Start, from), end
	if to.Before(e) {
		e = to
	}
	if !e.After(s) {
		return Totals{}, false
	}
	ms := e.Sub(s).Milliseconds()
	if ms == 0 {
		return Totals{}, false
	}
	return Totals{
		RunningMillis: ms,
		VCPUMillis:    ms * int64(iv.VCPUs),
		MiBMillis:     ms * int64(iv.MemBytes/types.MiB),
	}, true
}

// Meter answers usage queries against the store.
type Meter struct {
	db  *store.DB
	now func() time.Time
}

// NewMeter returns a Meter over db. now may be nil for time.Now.
func NewMeter(db *store.DB, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{db: db, now: now}
}

// Checkpoint durably advances every open interval's checkpoint to now. The
// appliance calls it periodically; the period bounds how much running time
// of an instance that dies while the appliance is down goes unbilled.
func (m *Meter) Checkpoint() error {
	now := m.now()
	return m.db.Update(func(tx *store.Tx) error { return Checkpoint(tx, now) })
}

// Usage reports usage over [from, to) for tenantID ("" for all tenants,
// the admin's view). It first checkpoints open intervals to now, in the
// same transaction, so nothing it reports can be taken back by a restart.
func (m *Meter) Usage(from, to time.Time, tenantID string) (Report, error) {
	if !to.After(from) {
		return Report{}, fmt.Errorf("usage: window [%s, %s) is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	now := m.now()
	var ivs []Interval
	err := m.db.Update(func(tx *store.Tx) error {
		if err := Checkpoint(tx, now); err != nil {
			return err
		}
		var err error
		ivs, err = Intervals(tx)
		return err
	})
	if err != nil {
		return Report{}, fmt.Errorf("usage: %w", err)
	}
	return Compute(ivs, from, to, now, tenantID), nil
}
