//go:build rack

// Helpers of the tests that run guests on real KVM through the service's
// API (compiled only with the rack tag; appliance/service/racktest runs
// them in the rack).

package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// needKVM skips, with the reason, where instances cannot run: without a
// usable /dev/kvm (testutil.NeedKVM) or without root (the VMM jail needs it).
func needKVM(t *testing.T) {
	t.Helper()
	testutil.NeedKVM(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the VMM jail needs root")
	}
}

// call sends one API request with token (body, when not nil, as JSON) and
// returns the status and the response body.
func (s server) call(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(s.url, "/")+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// console returns instance id's whole console as GET
// /v1/instances/{id}/console serves it, page by page.
func (s server) console(t *testing.T, token, id string) string {
	t.Helper()
	var out strings.Builder
	for off := int64(0); ; {
		code, b := s.call(t, token, "GET", fmt.Sprintf("/v1/instances/%s/console?offset=%d", id, off), nil)
		if code != http.StatusOK {
			t.Fatalf("console of %s: HTTP %d %s", id, code, b)
		}
		var page struct {
			Output     string `json:"output"`
			NextOffset int64  `json:"next_offset"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("console of %s: %v: %.200s", id, err, b)
		}
		out.WriteString(page.Output)
		if page.Output == "" || page.NextOffset <= off {
			return out.String()
		}
		off = page.NextOffset
	}
}

// waitConsole polls instance id's console until done accepts it and
// returns it; it fails the test, showing the console, when within passes
// first. what names the awaited output in the failure.
func (s server) waitConsole(t *testing.T, token, id, what string, within time.Duration, done func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := s.console(t, token, id)
		if done(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s on the console within %v; console:\n%s", id, what, within, out)
		}
		time.Sleep(200 * time.Millisecond) // the API has no console stream to block on
	}
}

// instance is the part of an instance's API view these tests read.
type instance struct {
	ID, State, Type, Reason string
	TenantID                string `json:"tenant_id"`
	Network                 string
	VCPUs                   int    `json:"vcpus"`
	MemBytes                uint64 `json:"mem_bytes"`
	IPs                     []string
}

// get returns GET /v1/instances/{id}.
func (s server) get(t *testing.T, token, id string) instance {
	t.Helper()
	code, b := s.call(t, token, "GET", "/v1/instances/"+id, nil)
	var in instance
	if code != http.StatusOK || json.Unmarshal(b, &in) != nil {
		t.Fatalf("GET instance %s: HTTP %d %s", id, code, b)
	}
	return in
}
