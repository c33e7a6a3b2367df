package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStrangersHandler: an address that fails to authenticate gets its
// burst of failures, then 429 (held first) without reaching the front
// end, even with a good credential, until its bucket refills; requests
// that authenticate take nothing; another address is untouched, and an
// IPv6 client counts as its /64.
func TestStrangersHandler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewStrangers(1, 3, func() time.Time { return now })
	held := 0
	s.hold = func(context.Context) { held++ }
	reached := 0
	h := s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		if r.Header.Get("Authorization") != "good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	}), func(w http.ResponseWriter, r *http.Request, wait time.Duration) {
		SetRetryAfter(w, wait)
		w.WriteHeader(http.StatusTooManyRequests)
	})
	send := func(addr, cred string) int {
		r := httptest.NewRequest("GET", "/v1/host", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", cred)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 10 {
		if code := send("192.0.2.1:1000", "good"); code != 200 {
			t.Fatalf("authenticated request %d: %d", i, code)
		}
	}
	for i := range 3 {
		if code := send("192.0.2.1:1001", "bad"); code != 401 {
			t.Fatalf("failure %d of the burst: %d, want 401", i, code)
		}
	}
	reached = 0
	for _, cred := range []string{"bad", "", "good"} {
		if code := send("192.0.2.1:1002", cred); code != http.StatusTooManyRequests {
			t.Fatalf("past the burst with %q: %d, want 429", cred, code)
		}
	}
	if reached != 0 || held != 3 {
		t.Fatalf("past the burst: front end reached %d times, %d refusals held; want 0 and 3", reached, held)
	}
	if code := send("192.0.2.2:1000", "bad"); code != 401 {
		t.Fatalf("another address: %d, want 401", code)
	}
	now = now.Add(time.Second)
	if code := send("192.0.2.1:1003", "good"); code != 200 {
		t.Fatalf("a second later: %d", code)
	}
	for i := range 3 {
		if code := send("[2001:db8:1:2::1]:1000", "bad"); code != 401 {
			t.Fatalf("IPv6 failure %d: %d", i, code)
		}
	}
	if code := send("[2001:db8:1:2::99]:1000", "bad"); code != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", code)
	}
	if code := send("[2001:db8:1:3::1]:1000", "bad"); code != 401 {
		t.Fatalf("another /64: %d, want 401", code)
	}
}

// TestStrangersOff: a negative rate is no limit: every failure reaches
// the front end.
func TestStrangersOff(t *testing.T) {
	h := NewStrangers(-1, 0, time.Now).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}), nil)
	for i := range 3 * DefaultStrangerBurst {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d with no limit: %d", i, w.Code)
		}
	}
}

// TestClientOf: IPv4 clients by address (mapped ones too), IPv6 by /64.
func TestClientOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:80":             "192.0.2.1",
		"[::ffff:192.0.2.1]:80":    "192.0.2.1",
		"[2001:db8::1%eth0]:80":    "2001:db8::/64",
		"[2001:db8:0:0:ff::1]:443": "2001:db8::/64",
	} {
		if got, ok := ClientOf(in); !ok || got != want {
			t.Errorf("ClientOf(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := ClientOf("pipe"); ok {
		t.Error("ClientOf(pipe) ok")
	}
}
