package metadata

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/netcfg"
)

// TestRateLimitIsPerInstance: a guest that floods the metadata service
// gets its burst, then 429 with Retry-After, each refusal held first;
// another guest's requests are answered all along, and the flooder gets
// its rate again as time passes.
func TestRateLimitIsPerInstance(t *testing.T) {
	now := time.Unix(1e9, 0)
	other := web1
	other.Instance = "i-web2"
	s := testServer(t, instances{"i-web1": running("i-web1", ""), "i-web2": running("i-web2", "")}, &now)
	held := 0
	s.hold = func(context.Context) { held++ }
	for i := range DefaultBurst {
		if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusOK {
			t.Fatalf("request %d of the burst: %d", i, code)
		}
	}
	for i := range 1000 {
		r := httptest.NewRequest("GET", "/latest/meta-data/instance-id", nil)
		r = r.WithContext(context.WithValue(r.Context(), nicKey{}, identity{web1, nil}))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("flood request %d past the burst: %d, want 429", i, w.Code)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
			t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
		}
		if i%100 == 0 {
			if code, body := do(s, other, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusOK || body != "i-web2" {
				t.Fatalf("the other guest during the flood: %d %q", code, body)
			}
		}
	}
	if held != 1000 {
		t.Fatalf("%d refusals held, want 1000", held)
	}
	// Tokens count too: a flooder cannot get around the limit with PUTs.
	if code, _ := do(s, web1, nil, "PUT", "/latest/api/token", map[string]string{tokenTTLHeader: "60"}); code != http.StatusTooManyRequests {
		t.Fatalf("token request past the rate: %d", code)
	}
	now = now.Add(time.Second)
	for i := range DefaultRate {
		if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusOK {
			t.Fatalf("request %d a second later: %d", i, code)
		}
	}
	if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusTooManyRequests {
		t.Fatalf("request %d a second later: %d, want 429", DefaultRate, code)
	}
}

// TestRateLimitOff: a negative Rate is no limit.
func TestRateLimitOff(t *testing.T) {
	now := time.Unix(1e9, 0)
	insts := instances{"i-web1": running("i-web1", "")}
	s, err := New(Config{State: func() netcfg.State { return netcfg.State{} }, Instance: insts.get,
		Now: func() time.Time { return now }, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * DefaultBurst {
		if code, _ := do(s, web1, nil, "GET", "/latest/meta-data/instance-id", nil); code != http.StatusOK {
			t.Fatalf("request %d with no limit: %d", i, code)
		}
	}
}
