package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/reaper"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/config"
)

// syncBuffer is a bytes.Buffer safe for the API's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStartAPIWithoutControlPlane breaks the store (state.db is a
// directory) and checks that PID 1 reports the failure, still announces
// READY, and serves the host document alone, over plain HTTP, naming the
// failure.
func TestStartAPIWithoutControlPlane(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "state.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cfg := config.Defaults()
	cfg.API = "127.0.0.1:0"
	a := &appliance{o: Options{Console: out, NoHypervisor: true}, tl: timeline.New(out, time.Now(), 0),
		cfg: cfg, reap: reaper.New("/proc"), dataDir: dir, data: Data{Source: "tmpfs"}}
	if err := a.startAPI(); err != nil {
		t.Fatal(err)
	}
	defer a.api.Shutdown(context.Background())
	if a.plane != nil {
		t.Fatal("the control plane opened on a broken store")
	}
	console := out.String()
	for _, want := range []string{"IRONVISOR FAILED step=controlplane: ", "serving only GET /v1/host", "IRONVISOR READY api=http://127.0.0.1:", "WARNING  the state"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
	if strings.Contains(console, "Admin    ") || strings.Contains(console, "TLS      ") {
		t.Errorf("the banner of a failed control plane shows a token or certificate:\n%s", console)
	}
	url := console[strings.Index(console, "IRONVISOR READY api=")+len("IRONVISOR READY api="):]
	url = strings.TrimSpace(strings.SplitN(url, "\n", 2)[0])
	resp, err := http.Get(url + "v1/host")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc api.HostDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/host: %s, %v", resp.Status, err)
	}
	found := false
	for _, f := range doc.Failures {
		found = found || f.Step == "controlplane"
	}
	if !found || doc.Mode != "appliance" {
		t.Errorf("host document: mode %q failures %+v, want appliance with the controlplane failure", doc.Mode, doc.Failures)
	}
}
