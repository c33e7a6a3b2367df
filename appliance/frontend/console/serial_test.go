package console

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// typed records what the fake guests' serial ports got, by instance.
var typed = struct {
	mu sync.Mutex
	m  map[string]string
}{m: map[string]string{}}

// ConsoleWrite makes fakeRunner an orchestrator.ConsoleWriter.
func (fakeRunner) ConsoleWrite(_ context.Context, id string, b []byte) (int, error) {
	typed.mu.Lock()
	defer typed.mu.Unlock()
	typed.m[id] += string(b)
	return len(b), nil
}

func typedInto(id string) string {
	typed.mu.Lock()
	defer typed.mu.Unlock()
	return typed.m[id]
}

// sendKeys posts keys as terminal.js does, with csrf in the header
// (none if "").
func (b *browser) sendKeys(id, keys, csrf string) answer {
	b.e.t.Helper()
	req, err := http.NewRequest("POST", b.e.srv.URL+"/console/instances/"+id+"/input", strings.NewReader(keys))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(out), header: resp.Header}
}

// TestTerminalInputNeedsTheSessionsToken: keys reach the guest only with
// the session's anti-forgery token; without it, or with another
// session's, they are refused with 403 and nothing is typed.
func TestTerminalInputNeedsTheSessionsToken(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	id := e.launch(who)
	b := e.login(tok)
	other := e.login(tok) // the same tenant, another session
	for _, csrf := range []string{"", "forged", other.csrf} {
		if a := b.sendKeys(id, "rm -rf /\r", csrf); a.status != http.StatusForbidden {
			t.Fatalf("keys with csrf %q: %d %.200s", csrf, a.status, a.body)
		}
	}
	if got := typedInto(id); got != "" {
		t.Fatalf("refused keys were typed: %q", got)
	}
	a := b.sendKeys(id, "root\r\x03", b.csrf)
	if a.status != http.StatusOK || a.body != `{"accepted":6}` {
		t.Fatalf("keys: %d %s", a.status, a.body)
	}
	if got := typedInto(id); got != "root\r\x03" {
		t.Fatalf("guest got %q", got)
	}
}

// TestTerminalInputOtherTenantAndStopped: another tenant's session gets
// 404 for the instance, and a stopped instance takes no keys (409).
func TestTerminalInputOtherTenantAndStopped(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	_, rivalTok := e.tenant("rival")
	id := e.launch(who)
	rival := e.login(rivalTok)
	if a := rival.sendKeys(id, "x", rival.csrf); a.status != http.StatusNotFound {
		t.Fatalf("other tenant: %d %.200s", a.status, a.body)
	}
	if _, err := e.orch.Stop(context.Background(), who, id, true); err != nil {
		t.Fatal(err)
	}
	b := e.login(tok)
	if a := b.sendKeys(id, "x", b.csrf); a.status != http.StatusConflict {
		t.Fatalf("stopped instance: %d %.200s", a.status, a.body)
	}
	if got := typedInto(id); got != "" {
		t.Fatalf("guest got %q", got)
	}
}

var nonceAttr = regexp.MustCompile(`data-style-nonce="([^"]+)"`)

// TestInstancePageTerminal: the page offers the terminal to scripts with
// the input path and the session's token, and its CSP admits only styles
// with the page's nonce beside 'self'; scripts stay 'self' only. The
// vendored xterm.js and its licence are served.
func TestInstancePageTerminal(t *testing.T) {
	e := newEnv(t)
	who, tok := e.tenant("acme")
	id := e.launch(who)
	b := e.login(tok)
	a := b.mustGet("/console/instances/"+id, http.StatusOK)
	m := nonceAttr.FindStringSubmatch(a.body)
	if m == nil || !strings.Contains(a.body, `data-input="/console/instances/`+id+`/input"`) || !strings.Contains(a.body, `data-csrf="`+b.csrf+`"`) {
		t.Fatalf("page lacks the terminal's attributes: %.2000s", a.body)
	}
	csp := a.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'self' 'nonce-"+m[1]+"';") || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q (nonce %s)", csp, m[1])
	}
	if again := nonceAttr.FindStringSubmatch(b.mustGet("/console/instances/"+id, http.StatusOK).body); again == nil || again[1] == m[1] {
		t.Fatal("the style nonce is not fresh for each page")
	}
	if csp := b.mustGet("/console/host", http.StatusOK).header.Get("Content-Security-Policy"); strings.Contains(csp, "nonce") {
		t.Fatalf("other pages' CSP admits nonces: %q", csp)
	}
	for _, p := range []string{"xterm/xterm.js", "xterm/xterm.css", "xterm/LICENSE", "terminal.js"} {
		b.mustGet("/console/static/"+p, http.StatusOK)
	}
	// The output follows with a wait; output past the end comes back
	// empty once the wait ends.
	out := b.mustGet("/console/instances/"+id+"/output?offset=9999&wait=100ms", http.StatusOK)
	if !strings.Contains(out.body, `"next":9999`) {
		t.Fatalf("waited output: %s", out.body)
	}
}
