package images

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

func sum256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func sum512(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }

// allocated returns the bytes a file holds on disk.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// serve serves body at /disk.qcow2; short, if set, announces more bytes
// than it sends.
func serve(t *testing.T, body []byte, short bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/disk.qcow2" {
			http.NotFound(w, r)
			return
		}
		n := len(body)
		if short {
			n *= 2
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/disk.qcow2"
}

// finish waits for import job id to end and returns it.
func finish(t *testing.T, s *Store, id string) ImportJob {
	t.Helper()
	s.WaitImports()
	j, err := s.ImportJob(id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State == ImportRunning {
		t.Fatalf("job %s still running after WaitImports", id)
	}
	return j
}

func TestImportURL(t *testing.T) {
	raw, kernel := cloudDisk(t)
	q := toQcow2(t, raw, "-c", "-o", "compat=1.1,cluster_size=4k")
	s, dir := newStore(t)
	u := serve(t, q, false)
	job, err := s.Import(ImportRequest{Name: "debian", URL: u, SHA512: sum512(q)})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != ImportRunning || job.Phase != PhaseDownload {
		t.Errorf("new job %+v", job)
	}
	j := finish(t, s, job.ID)
	if j.State != ImportSucceeded || j.Image == nil || j.Error != "" {
		t.Fatalf("job %+v", j)
	}
	if j.Phase != PhaseInspect || j.Done != j.Total {
		t.Errorf("finished job at %s %d/%d", j.Phase, j.Done, j.Total)
	}
	checkDiskImage(t, s, *j.Image, raw, kernel, FormatQcow2)
	if j.Image.Source.URL != u {
		t.Errorf("source %+v", j.Image.Source)
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != j.Image.ID {
		t.Errorf("images directory holds %v", got)
	}
	if all := s.ImportJobs(); len(all) != 1 || all[0].ID != job.ID {
		t.Errorf("jobs %+v", all)
	}
}

// TestImportRefusals: each refusal fails the job (or the request) with a
// clear error and leaves nothing in the images directory.
func TestImportRefusals(t *testing.T) {
	raw, _ := cloudDisk(t)
	q := toQcow2(t, raw, "-o", "compat=1.1")
	good := serve(t, q, false)
	short := serve(t, q, true)
	for name, tc := range map[string]struct {
		q    ImportRequest
		want string
	}{
		"bad sha256":  {ImportRequest{URL: good, SHA256: strings.Repeat("ab", 32)}, "sha256 mismatch"},
		"bad sha512":  {ImportRequest{URL: good, SHA512: strings.Repeat("ab", 64)}, "sha512 mismatch"},
		"not found":   {ImportRequest{URL: strings.TrimSuffix(good, "disk.qcow2") + "nope", SHA256: sum256(q)}, "404"},
		"cut short":   {ImportRequest{URL: short, SHA256: sum256(q)}, "cut short"},
		"unreachable": {ImportRequest{URL: "http://127.0.0.1:1/disk.qcow2", SHA256: sum256(q)}, "download"},
	} {
		t.Run(name, func(t *testing.T) {
			s, dir := newStore(t)
			tc.q.Name = "debian"
			job, err := s.Import(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			j := finish(t, s, job.ID)
			if j.State != ImportFailed || j.Code != apiv1.InvalidParameter || !strings.Contains(j.Error, tc.want) {
				t.Fatalf("job %+v, want failed saying %q", j, tc.want)
			}
			if got := entries(t, dir); len(got) != 0 {
				t.Errorf("left behind: %v", got)
			}
		})
	}
}

func TestImportRequestChecks(t *testing.T) {
	s, _ := newStore(t)
	raw, _ := cloudDisk(t)
	if _, err := uploadDisk(s, "taken", raw); err != nil {
		t.Fatal(err)
	}
	h := sum256(raw)
	for name, q := range map[string]ImportRequest{
		"file url":     {Name: "a", URL: "file:///etc/passwd", SHA256: h},
		"no host":      {Name: "a", URL: "http:///x", SHA256: h},
		"no digest":    {Name: "a", URL: "http://x/y"},
		"both digests": {Name: "a", URL: "http://x/y", SHA256: h, SHA512: sum512(raw)},
		"short digest": {Name: "a", URL: "http://x/y", SHA256: h[:10]},
		"bad name":     {Name: "../a", URL: "http://x/y", SHA256: h},
	} {
		if _, err := s.Import(q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Import(ImportRequest{Name: "taken", URL: "http://x/y", SHA256: h}); !errors.Is(err, ErrExists) {
		t.Errorf("taken name: %v", err)
	}
	if len(s.ImportJobs()) != 0 {
		t.Errorf("refused requests left jobs: %+v", s.ImportJobs())
	}
}

// TestImportLimit: at most MaxRunningImports run at once.
func TestImportLimit(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	s, _ := newStore(t)
	h := strings.Repeat("ab", 32)
	for i := 0; i < MaxRunningImports; i++ {
		if _, err := s.Import(ImportRequest{Name: "n" + strconv.Itoa(i), URL: srv.URL, SHA256: h}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Import(ImportRequest{Name: "more", URL: srv.URL, SHA256: h})
	close(release)
	s.WaitImports()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("import beyond the limit: %v", err)
	}
}
