package rest

import (
	"net/http"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// consoleWrite types the body's bytes into the instance's serial port.
// Another tenant's instance is not found whatever the body holds.
func (s *Server) consoleWrite(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if _, err := s.cfg.Orch.Instance(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	var q apiv1.ConsoleInput
	if err := decodeJSON(r.Body, &q, false); err != nil {
		fail(w, err)
		return
	}
	n, err := s.cfg.Orch.ConsoleWrite(r.Context(), who, p["id"], q.Data)
	answer(w, http.StatusOK, apiv1.ConsoleInputResult{Accepted: n}, err)
}

// queryWait parses an optional wait, a Go duration ("500ms", "10s") of
// at most max.
func queryWait(r *http.Request, max time.Duration) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > max {
		return 0, badRequest("wait=%q: want a duration from 0 to %v, such as 10s", s, max)
	}
	return d, nil
}
