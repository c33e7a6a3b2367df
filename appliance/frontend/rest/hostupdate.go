package rest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// maxUpdateField bounds a text field of an update (a URL at most).
const maxUpdateField = 4096

// updateHost streams a new appliance image into PID 1's updater: the
// multipart fields sha256, tries and url come first, then the uki part,
// which is passed on as it arrives (never held whole in memory); with a
// url and no uki part the host fetches the image itself. The host answers
// once the image is in its slot, then reboots.
func (s *Server) updateHost(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	if s.cfg.HostUpdate == nil {
		fail(w, fmt.Errorf("%w: this host does not update itself (not the appliance's PID 1)", apiv1.IncorrectState))
		return
	}
	rc := http.NewResponseController(w)
	if err := errors.Join(rc.SetReadDeadline(time.Now().Add(uploadTimeout)), rc.SetWriteDeadline(time.Now().Add(uploadTimeout))); err != nil && !errors.Is(err, http.ErrNotSupported) {
		fail(w, fmt.Errorf("extend deadlines: %w", err))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(w, badRequest("want a multipart/form-data body: %v", err))
		return
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(w, badRequest("read multipart body: %v", err))
			return
		}
		switch name := part.FormName(); name {
		case "sha256", "tries", "url":
			if _, dup := fields[name]; dup {
				fail(w, badRequest("field %q given twice", name))
				return
			}
			b, err := io.ReadAll(io.LimitReader(part, maxUpdateField+1))
			if err != nil || len(b) > maxUpdateField {
				fail(w, badRequest("field %q: unreadable or longer than %d bytes", name, maxUpdateField))
				return
			}
			fields[name] = strings.TrimSpace(string(b))
		case "uki":
			if fields["url"] != "" {
				fail(w, badRequest("give a uki part or a url, not both"))
				return
			}
			s.runUpdate(w, r, &partReader{r: part}, fields)
			return
		default:
			fail(w, badRequest("unknown field %q (want sha256, tries, url, then uki)", name))
			return
		}
	}
	if fields["url"] == "" {
		fail(w, badRequest("no uki part and no url"))
		return
	}
	s.runUpdate(w, r, nil, fields)
}

// runUpdate checks the fields and hands the image to the updater.
func (s *Server) runUpdate(w http.ResponseWriter, r *http.Request, body *partReader, fields map[string]string) {
	if fields["sha256"] == "" {
		fail(w, badRequest("sha256 is required, before the uki part"))
		return
	}
	tries := 0
	if t := fields["tries"]; t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			fail(w, badRequest("tries %q: not a number", t))
			return
		}
		tries = n
	}
	var in io.Reader
	if body != nil {
		in = body
	}
	out, err := s.cfg.HostUpdate(r.Context(), in, fields["url"], fields["sha256"], tries)
	if err != nil && body != nil && body.err != nil {
		err = badRequest("read uki: %v", body.err)
	}
	answer(w, http.StatusAccepted, out, err)
}
