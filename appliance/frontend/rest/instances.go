package rest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// MaxConsole bounds one console read.
const MaxConsole = 1 << 20

// instanceAnswer answers one instance, or err.
func instanceAnswer(w http.ResponseWriter, in lifecycle.Instance, err error) {
	out, err := viewOf(in, err, instanceView)
	answer(w, http.StatusOK, out, err)
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	all, err := s.cfg.Orch.Instances(who)
	answer(w, http.StatusOK, instanceViews(all), err)
}

// getInstance describes an instance. With ?while=STATE&wait=DURATION it
// long-polls: it answers once the instance has left STATE, or when the
// wait ends with it still there.
func (s *Server) getInstance(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	while, wait, err := queryWhile(r)
	if err != nil {
		fail(w, err)
		return
	}
	var in lifecycle.Instance
	if while != "" {
		in, err = s.cfg.Orch.InstanceWait(r.Context(), who, p["id"], while, wait)
	} else {
		in, err = s.cfg.Orch.Instance(p["id"], who)
	}
	instanceAnswer(w, in, err)
}

// queryWhile parses describe's optional long-poll: while, a state name,
// and wait, which come together.
func queryWhile(r *http.Request) (lifecycle.State, time.Duration, error) {
	wait, err := queryWait(r, orchestrator.MaxInstanceWait)
	if err != nil {
		return "", 0, err
	}
	s := r.URL.Query().Get("while")
	if (s == "") != (r.URL.Query().Get("wait") == "") {
		return "", 0, badRequest("while=%q wait=%v: a long-poll needs both, a state and a duration such as 10s", s, wait)
	}
	if s != "" && !slices.Contains(lifecycle.States, lifecycle.State(s)) {
		return "", 0, badRequest("while=%q: want one of %v", s, lifecycle.States)
	}
	return lifecycle.State(s), wait, nil
}

func (s *Server) launch(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q, err := decodeLaunch(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	insts, err := s.cfg.Orch.Launch(who, q)
	answer(w, http.StatusCreated, instanceViews(insts), err)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	var q apiv1.StopRequest
	if err := decodeJSON(r.Body, &q, true); err != nil {
		fail(w, err)
		return
	}
	if q.TimeoutSeconds < 0 || time.Duration(q.TimeoutSeconds)*time.Second > orchestrator.MaxStopTimeout {
		fail(w, badRequest("timeout_seconds %d: must be 0 to %d", q.TimeoutSeconds, int(orchestrator.MaxStopTimeout.Seconds())))
		return
	}
	graceful := time.Duration(q.TimeoutSeconds) * time.Second
	if graceful > 0 {
		// The answer comes after the guest shut down, or after the
		// timeout and the forced stop: longer than api.WriteTimeout.
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(graceful + 2*time.Minute)); err != nil {
			fail(w, fmt.Errorf("extend deadline: %w", err))
			return
		}
	}
	in, err := s.cfg.Orch.StopWithin(r.Context(), who, p["id"], q.Force, graceful)
	instanceAnswer(w, in, err)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	in, err := s.cfg.Orch.Start(r.Context(), who, p["id"])
	instanceAnswer(w, in, err)
}

func (s *Server) reboot(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	in, err := s.cfg.Orch.Reboot(r.Context(), who, p["id"])
	instanceAnswer(w, in, err)
}

func (s *Server) patchInstance(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	q, err := decodePatch(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	in, err := s.cfg.Orch.Resize(r.Context(), who, p["id"], q.Type)
	instanceAnswer(w, in, err)
}

func (s *Server) terminate(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	in, err := s.cfg.Orch.Terminate(r.Context(), who, p["id"])
	instanceAnswer(w, in, err)
}

func (s *Server) console(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if _, err := s.cfg.Orch.Instance(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	off, err := queryInt(r, "offset", 0, 1<<62)
	if err != nil {
		fail(w, err)
		return
	}
	max, err := queryInt(r, "max", 64<<10, MaxConsole)
	if err != nil {
		fail(w, err)
		return
	}
	wait, err := queryWait(r, orchestrator.MaxConsoleWait)
	if err != nil {
		fail(w, err)
		return
	}
	b, next, ok, err := s.cfg.Orch.ConsoleWait(r.Context(), who, p["id"], off, int(max), wait)
	answer(w, http.StatusOK, apiv1.ConsoleOutput{Output: string(b), NextOffset: next, Available: ok}, err)
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, def, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("%s=%q: want an integer in 0..%d", name, s, max)
	}
	return n, nil
}
