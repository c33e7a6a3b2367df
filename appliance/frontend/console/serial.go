package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
)

// The interactive serial console. The instance page's script
// (static/terminal.js, over the vendored xterm.js) follows the output
// with long-polling reads of instances/{id}/output?wait= and sends keys
// to instances/{id}/input: the raw bytes as the body, the session's
// anti-forgery token in csrfHeader (a fetch sends no form). Without
// JavaScript the page shows the output read-only.

// csrfHeader carries the anti-forgery token of a script's POST.
const csrfHeader = "X-Ironvisor-CSRF"

// maxOutputWait bounds the wait of one output read.
const maxOutputWait = 25 * time.Second

// csrfOf returns the anti-forgery token a POST carries: the header a
// script sets, else the form field.
func csrfOf(r *http.Request) string {
	if h := r.Header.Get(csrfHeader); h != "" {
		return h
	}
	return r.PostForm.Get("csrf")
}

// outputWait is the output read's optional wait, a Go duration; a bad
// one is no wait.
func outputWait(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || d < 0 {
		return 0
	}
	return min(d, maxOutputWait)
}

// input types the request's body into the instance's serial port and
// answers {"accepted": n}. Another tenant's instance is 404, one that is
// not running 409.
func (s *Server) input(w http.ResponseWriter, r *http.Request, c *call) {
	in, err := s.cfg.Orch.Instance(r.PathValue("id"), c.who)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, orchestrator.MaxConsoleInput+1))
	if err != nil {
		s.fail(w, r, c, badForm("read keys: %v", err))
		return
	}
	n, err := s.cfg.Orch.ConsoleWrite(r.Context(), c.who, in.ID, b)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	out, err := json.Marshal(struct {
		Accepted int `json:"accepted"`
	}{n})
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// styleNonce lets the terminal's own <style> elements through the page's
// CSP: xterm.js writes its cell geometry and colours into <style>
// elements it creates, which "style-src 'self'" alone refuses. Only
// styles carrying this answer's nonce are added; scripts stay 'self'
// only. It returns the nonce, or "" (and the strict policy stays) if no
// randomness could be had.
func styleNonce(w http.ResponseWriter) string {
	n, err := randomString(18)
	if err != nil {
		return ""
	}
	w.Header().Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'self'; style-src 'self' 'nonce-%s'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", n))
	return n
}
