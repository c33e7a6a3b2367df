package metadata

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// web1 is the NIC of instance i-web1 in the tests.
var web1 = netcfg.NIC{Instance: "i-web1", Network: "web", IP: netip.MustParseAddr("10.9.0.2"),
	MAC: "02:00:0a:09:00:02", Groups: []string{"web-ssh", "web-http"}}

// instances is an in-memory instance table for the handler tests.
type instances map[string]lifecycle.Instance

func (m instances) get(id string) (lifecycle.Instance, error) {
	in, ok := m[id]
	if !ok {
		return in, errors.New("no such instance")
	}
	return in, nil
}

// testServer returns a server over insts whose clock is *now.
func testServer(t testing.TB, insts instances, now *time.Time) *Server {
	t.Helper()
	s, err := New(Config{State: func() netcfg.State { return netcfg.State{} }, Instance: insts.get,
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	s.hold = func(context.Context) {} // a refusal's hold is tested on its own
	return s
}

// do sends one request as the guest behind nic (or as nobody, with err).
func do(s *Server, nic netcfg.NIC, err error, method, path string, hdr map[string]string) (int, string) {
	r := httptest.NewRequest(method, path, nil)
	r = r.WithContext(context.WithValue(r.Context(), nicKey{}, identity{nic, err}))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func running(id string, userData string) lifecycle.Instance {
	return lifecycle.Instance{ID: id, Image: "img-debian", Type: types.Type{Name: "nano"}, State: lifecycle.Running,
		UserData: []byte(userData)}
}

func TestDocuments(t *testing.T) {
	now := time.Unix(1e9, 0)
	script := "#!/bin/sh\necho hello\x00\xff"
	s := testServer(t, instances{"i-web1": running("i-web1", script)}, &now)
	for _, c := range []struct{ path, want string }{
		{"/latest/", "dynamic\nmeta-data\nuser-data"},
		{"/latest/meta-data/instance-id", "i-web1"},
		{"/latest/meta-data/instance-type", "nano"},
		{"/latest/meta-data/ami-id", "img-debian"},
		{"/latest/meta-data/local-ipv4", "10.9.0.2"},
		{"/latest/meta-data/mac", "02:00:0a:09:00:02"},
		{"/latest/meta-data/hostname", "i-web1"},
		{"/latest/meta-data/security-groups", "web-ssh\nweb-http"},
		{"/latest/user-data", script},
	} {
		code, body := do(s, web1, nil, "GET", c.path, nil)
		if code != http.StatusOK || body != c.want {
			t.Errorf("GET %s: %d %q, want 200 %q", c.path, code, body, c.want)
		}
	}
	list := func() string { _, b := do(s, web1, nil, "GET", "/latest/meta-data/", nil); return b }()
	if strings.Contains(list, "public-keys") {
		t.Errorf("an instance without a key lists public-keys: %q", list)
	}
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/public-keys/0/openssh-key", nil); code != http.StatusNotFound {
		t.Errorf("no key: %d, want 404", code)
	}
	for _, k := range strings.Fields(list) {
		if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/"+k, nil); code != http.StatusOK {
			t.Errorf("listed key %s: %d", k, code)
		}
	}
	for _, p := range []string{"/latest/meta-data/nope", "/latest/meta-data/../user-data", "/other", "/latest/meta-data/instance-id/x"} {
		if code, _ := do(s, web1, nil, "GET", p, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}

// TestPublicKey: the launch's key pair is served where cloud-init looks.
func TestPublicKey(t *testing.T) {
	now := time.Unix(1e9, 0)
	in := running("i-web1", "")
	in.KeyName, in.PublicKey = "laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez alice@laptop"
	s := testServer(t, instances{"i-web1": in}, &now)
	for _, c := range []struct{ path, want string }{
		{"/latest/meta-data/public-keys/", "0=laptop"},
		{"/latest/meta-data/public-keys/0/", "openssh-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", in.PublicKey + "\n"},
	} {
		if code, body := do(s, web1, nil, "GET", c.path, nil); code != http.StatusOK || body != c.want {
			t.Errorf("GET %s: %d %q, want %q", c.path, code, body, c.want)
		}
	}
	if _, list := do(s, web1, nil, "GET", "/latest/meta-data/", nil); !strings.Contains(list, "public-keys/\n") {
		t.Errorf("listing without public-keys/: %q", list)
	}
}

func TestRefusals(t *testing.T) {
	now := time.Unix(1e9, 0)
	stopped := running("i-web1", "x")
	stopped.State = lifecycle.Stopped
	s := testServer(t, instances{"i-web1": running("i-web1", ""), "i-old": stopped}, &now)
	if code, _ := do(s, netcfg.NIC{}, netcfg.ErrUnknownNIC, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusForbidden {
		t.Errorf("unmarked connection: %d, want 403", code)
	}
	if code, _ := do(s, web1, nil, "GET", "/latest/user-data", nil); code != http.StatusNotFound {
		t.Errorf("no user data: %d, want 404", code)
	}
	old := web1
	old.Instance = "i-old"
	if code, _ := do(s, old, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusNotFound {
		t.Errorf("stopped instance: %d, want 404", code)
	}
	gone := web1
	gone.Instance = "i-gone"
	if code, _ := do(s, gone, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusNotFound {
		t.Errorf("unknown instance: %d, want 404", code)
	}
	if code, _ := do(s, web1, nil, "POST", "/latest/user-data", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
}

// TestTokens: IMDSv2 session tokens are bound to the NIC they were issued
// to and expire after their TTL; a bad TTL is refused.
func TestTokens(t *testing.T) {
	now := time.Unix(1e9, 0)
	other := web1
	other.Instance = "i-web2"
	s := testServer(t, instances{"i-web1": running("i-web1", ""), "i-web2": running("i-web2", "")}, &now)
	for _, ttl := range []string{"", "0", "-1", "21601", "x"} {
		if code, _ := do(s, web1, nil, "PUT", "/latest/api/token", map[string]string{tokenTTLHeader: ttl}); code != http.StatusBadRequest {
			t.Errorf("TTL %q: %d, want 400", ttl, code)
		}
	}
	code, tok := do(s, web1, nil, "PUT", "/latest/api/token", map[string]string{tokenTTLHeader: "60"})
	if code != http.StatusOK || len(tok) != 48 {
		t.Fatalf("token: %d %q", code, tok)
	}
	with := map[string]string{tokenHeader: tok}
	if code, body := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", with); code != http.StatusOK || body != "i-web1" {
		t.Errorf("with token: %d %q", code, body)
	}
	if code, _ := do(s, other, nil, "GET", "/latest/meta-data/instance-id", with); code != http.StatusUnauthorized {
		t.Errorf("another NIC's token: %d, want 401", code)
	}
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", map[string]string{tokenHeader: "forged"}); code != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", code)
	}
	now = now.Add(61 * time.Second)
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", with); code != http.StatusUnauthorized {
		t.Errorf("expired token: %d, want 401", code)
	}
}

// FuzzServeHTTP sends the guest's arbitrary method, path and headers (the
// request is untrusted input): no panic, only the statuses the service
// uses, and the user data of no other instance ever comes back.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/latest/user-data", "", "")
	f.Add("PUT", "/latest/api/token", "60", "")
	f.Add("GET", "/latest/meta-data/../../user-data", "", "x")
	f.Add("HEAD", "/latest/meta-data/", "21600", "forged")
	f.Add("GET", "/2021-03-23/dynamic/instance-identity/document", "", "")
	f.Add("GET", "/2009-04-04/meta-data/network/interfaces/macs/", "", "")
	now := time.Unix(1e9, 0)
	s := testServer(f, instances{"i-web1": running("i-web1", "mine"), "i-other": running("i-other", "SECRET")}, &now)
	f.Fuzz(func(t *testing.T, method, path, ttl, tok string) {
		r, err := http.NewRequest(method, "http://169.254.169.254/", nil)
		if err != nil {
			return
		}
		r.URL.Path = path
		r.Header.Set(tokenTTLHeader, ttl)
		r.Header.Set(tokenHeader, tok)
		r = r.WithContext(context.WithValue(r.Context(), nicKey{}, identity{web1, nil}))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 403, 404, 405, 429:
		default:
			t.Fatalf("%s %q: status %d", method, path, w.Code)
		}
		if strings.Contains(w.Body.String(), "SECRET") {
			t.Fatalf("%s %q returned another instance's user data", method, path)
		}
	})
}

// TestTokenLimitIsPerInstance: a guest that asks for far more tokens than
// its share (with the longest TTL) keeps at most maxTokens and never
// locks another guest out; its newest tokens stay valid.
func TestTokenLimitIsPerInstance(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := web1
	b.Instance = "i-web2"
	s := testServer(t, instances{"i-web1": running("i-web1", ""), "i-web2": running("i-web2", "")}, &now)
	ttl := map[string]string{tokenTTLHeader: "21600"}
	var last string
	for i := range 4096 + 10 {
		code, tok := do(s, web1, nil, "PUT", "/latest/api/token", ttl)
		if code != http.StatusOK {
			t.Fatalf("guest A's token %d: %d", i, code)
		}
		last = tok
		now = now.Add(time.Second) // within the rate limit, far within the TTL
	}
	if n := s.liveTokens("i-web1"); n > maxTokens {
		t.Fatalf("guest A holds %d tokens, limit %d", n, maxTokens)
	}
	code, tok := do(s, b, nil, "PUT", "/latest/api/token", ttl)
	if code != http.StatusOK {
		t.Fatalf("guest B's token after A's flood: %d", code)
	}
	if code, body := do(s, b, nil, "GET", "/latest/meta-data/instance-id", map[string]string{tokenHeader: tok}); code != http.StatusOK || body != "i-web2" {
		t.Fatalf("guest B with its token: %d %q", code, body)
	}
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", map[string]string{tokenHeader: last}); code != http.StatusOK {
		t.Fatalf("guest A's newest token: %d", code)
	}
}

// TestForwardedForRefused: a request that a proxy in the guest forwarded
// (X-Forwarded-For) gets no token and no metadata (403), as on EC2.
func TestForwardedForRefused(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := testServer(t, instances{"i-web1": running("i-web1", "secret")}, &now)
	xff := map[string]string{forwardedFor: "10.0.0.7", tokenTTLHeader: "60"}
	if code, _ := do(s, web1, nil, "PUT", "/latest/api/token", xff); code != http.StatusForbidden {
		t.Errorf("token through a proxy: %d, want 403", code)
	}
	if code, body := do(s, web1, nil, "GET", "/latest/user-data", xff); code != http.StatusForbidden {
		t.Errorf("user data through a proxy: %d %q, want 403", code, body)
	}
}

// TestTokensRequired: an instance launched with http_tokens=required
// refuses IMDSv1 (401) and answers with a token; another instance on the
// same host keeps IMDSv1.
func TestTokensRequired(t *testing.T) {
	now := time.Unix(1e9, 0)
	strict := running("i-web1", "")
	strict.HTTPTokens = lifecycle.HTTPTokensRequired
	b := web1
	b.Instance = "i-web2"
	s := testServer(t, instances{"i-web1": strict, "i-web2": running("i-web2", "")}, &now)
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusUnauthorized {
		t.Fatalf("IMDSv1 with http_tokens=required: %d, want 401", code)
	}
	_, tok := do(s, web1, nil, "PUT", "/latest/api/token", map[string]string{tokenTTLHeader: "60"})
	if code, body := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", map[string]string{tokenHeader: tok}); code != http.StatusOK || body != "i-web1" {
		t.Fatalf("IMDSv2 with http_tokens=required: %d %q", code, body)
	}
	if code, _ := do(s, b, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusOK {
		t.Fatalf("IMDSv1 of an optional instance: %d", code)
	}
}

// ttlCapture hands the server connections that record their IP TTL the
// moment the server writes an answer: after ConnContext set the hop limit,
// and before the server may close the connection (a refused request does),
// when its socket can no longer be asked.
type ttlCapture struct {
	net.Listener
	ttls chan int
}

func (c ttlCapture) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ttlConn{TCPConn: conn.(*net.TCPConn), ttls: c.ttls}, nil
}

// ttlConn embeds *net.TCPConn, so the server still sees a syscall.Conn.
type ttlConn struct {
	*net.TCPConn
	ttls chan int
	once sync.Once
}

func (c *ttlConn) Write(p []byte) (int, error) {
	c.once.Do(func() {
		ttl := -1
		raw, err := c.TCPConn.SyscallConn()
		if err == nil {
			err = raw.Control(func(fd uintptr) { ttl, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL) })
		}
		if err != nil {
			ttl = -1
		}
		c.ttls <- ttl
	})
	return c.TCPConn.Write(p)
}

// TestAnswersHopLimited: every connection the server accepts answers with
// IP TTL 1 (EC2's hop limit), so nothing behind a forwarding guest gets a
// token or metadata.
func TestAnswersHopLimited(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := testServer(t, instances{}, &now)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := ttlCapture{ln, make(chan int, 1)}
	go s.Serve(cl)
	defer s.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/latest/meta-data/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case ttl := <-cl.ttls:
		if ttl != 1 {
			t.Fatalf("IP_TTL of the answering connection = %d, want 1 (-1: unreadable)", ttl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server wrote no answer")
	}
}
