package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// liveHeader marks the requests of the script's refresh.
const liveHeader = "X-Ironvisor-Live"

// consolePage bounds the serial output one page or poll shows.
const consolePage = 64 << 10

// userEvents are the actions a page may offer, in the order shown.
var userEvents = []lifecycle.Event{lifecycle.Start, lifecycle.Stop, lifecycle.Reboot, lifecycle.Resize, lifecycle.Terminate}

// actions lists the events the lifecycle allows from state s that change
// something (a repeated stop is accepted but pointless to offer).
func actions(s lifecycle.State) []lifecycle.Event {
	var out []lifecycle.Event
	for _, e := range userEvents {
		to, err := lifecycle.Next(s, e)
		if err == nil && (to != s || e == lifecycle.Reboot || e == lifecycle.Resize) {
			out = append(out, e)
		}
	}
	return out
}

// consoleChunk is a piece of serial output from an offset.
type consoleChunk struct {
	Output    string `json:"output"`
	Offset    int64  `json:"offset"`
	Next      int64  `json:"next"`
	Available bool   `json:"available"`
	// More says the output goes on past Next already.
	More  bool   `json:"more"`
	Error string `json:"error,omitempty"`
}

// instancePage is an instance's page: details and serial output.
type instancePage struct {
	Row     instanceRow
	Actions []lifecycle.Event
	Console consoleChunk
	// StyleNonce admits the interactive terminal's styles (styleNonce).
	StyleNonce string
}

// readConsole reads a page of id's serial output from the query's offset.
// A failure to read is shown in the chunk, not as the page's error: the
// instance is there, its VMM may not be.
func (s *Server) readConsole(r *http.Request, c *call, id string, wait time.Duration) consoleChunk {
	off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		off = 0
	}
	b, next, ok, err := s.cfg.Orch.ConsoleWait(r.Context(), c.who, id, off, consolePage, wait)
	ch := consoleChunk{Output: string(b), Offset: off, Next: next, Available: ok, More: len(b) == consolePage}
	if err != nil {
		ch.Next, ch.Error = off, err.Error()
	}
	return ch
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request, c *call) {
	in, err := s.cfg.Orch.Instance(r.PathValue("id"), c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := instancePage{Row: s.lookupNames(c.who).row(in), Actions: actions(in.State)}
	// The script's refresh swaps only the details, and follows the
	// console through output: it need not be read twice.
	if r.Header.Get(liveHeader) == "" {
		p.Console = s.readConsole(r, c, in.ID, 0)
		p.StyleNonce = styleNonce(w)
	}
	s.render(w, r, c, http.StatusOK, "instance", in.ID, p)
}

// output answers the serial output from ?offset= as JSON, for the page's
// script to follow the console live; with ?wait= (a Go duration, at most
// maxOutputWait) it long-polls for output past offset.
func (s *Server) output(w http.ResponseWriter, r *http.Request, c *call) {
	in, err := s.cfg.Orch.Instance(r.PathValue("id"), c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	ch := s.readConsole(r, c, in.ID, outputWait(r))
	b, err := json.Marshal(ch)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// confirmPage asks before an action.
type confirmPage struct {
	Row    instanceRow
	Action lifecycle.Event
	Types  []types.Type
}

// instanceAction returns the instance and the action of the path, or the
// error to answer: another tenant's instance is NotFound, and so is an
// action that is not a user's.
func (s *Server) instanceAction(r *http.Request, c *call) (lifecycle.Instance, lifecycle.Event, error) {
	in, err := s.cfg.Orch.Instance(r.PathValue("id"), c.who)
	if err != nil {
		return in, "", err
	}
	e, err := lifecycle.ParseUserEvent(r.PathValue("action"))
	if err != nil {
		return in, "", badForm("%v", err)
	}
	return in, e, nil
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request, c *call) {
	in, e, err := s.instanceAction(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := confirmPage{Row: s.lookupNames(c.who).row(in), Action: e}
	if e == lifecycle.Resize {
		if p.Types, err = s.cfg.Catalog.List(); err != nil {
			s.fail(w, r, c, err)
			return
		}
	}
	s.render(w, r, c, http.StatusOK, "confirm", string(e)+" "+in.ID, p)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, c *call) {
	in, e, err := s.instanceAction(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	ctx := r.Context()
	switch e {
	case lifecycle.Start:
		in, err = s.cfg.Orch.Start(ctx, c.who, in.ID)
	case lifecycle.Stop:
		in, err = s.cfg.Orch.Stop(ctx, c.who, in.ID, r.PostForm.Get("force") != "")
	case lifecycle.Reboot:
		in, err = s.cfg.Orch.Reboot(ctx, c.who, in.ID)
	case lifecycle.Resize:
		in, err = s.cfg.Orch.Resize(ctx, c.who, in.ID, r.PostForm.Get("type"))
	case lifecycle.Terminate:
		in, err = s.cfg.Orch.Terminate(ctx, c.who, in.ID)
	}
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.done(w, r, c, Prefix+"instances/"+in.ID, in.ID+": "+string(e)+" done; it is "+string(in.State)+".")
}
