package console

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// hostPage is the host page's data.
type hostPage struct {
	Host        hostinfo.Host
	Fingerprint string
	// Capacity is the admin's only (nil for a tenant).
	Capacity *lifecycle.Capacity
	// CPUPct and MemPct are the shares used, 0..100, for the meters.
	CPUPct, MemPct int
	// Admin shows the box's own care: update slots, the watchdog and
	// where the configuration came from.
	Admin bool
}

// pct returns used/total in percent, 0..100.
func pct(used, total uint64) int {
	if total == 0 {
		return 0
	}
	return int(min(used*100/total, 100))
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request, c *call) {
	p := hostPage{Host: s.cfg.Host.Collect(), Fingerprint: s.cfg.TLSFingerprint}
	if c.who.Admin {
		p.Admin = true
		cp, err := s.cfg.Orch.Capacity(c.who)
		if err != nil {
			s.fail(w, r, c, err)
			return
		}
		p.Capacity = &cp
		p.CPUPct = pct(uint64(cp.UsedVCPUs), uint64(max(cp.VCPUBudget, 0)))
		p.MemPct = pct(cp.UsedMemBytes, cp.MemBytes)
	}
	s.render(w, r, c, http.StatusOK, "host", "Host", p)
}
