package images

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Import job states.
const (
	ImportRunning   = "running"
	ImportSucceeded = "succeeded"
	ImportFailed    = "failed"
)

// PhaseDownload is the first phase of an import.
const PhaseDownload = "download"

// Import limits: running imports at once (each streams a disk to the data
// disk and converts it), finished jobs remembered, and the time one may
// take.
const (
	MaxRunningImports = 2
	maxFinishedJobs   = 32
	importTimeout     = 6 * time.Hour
)

// ErrBusy is returned when MaxRunningImports imports are running.
var ErrBusy = apiv1.NewError(apiv1.LimitExceeded, "too many image imports running")

// ImportRequest asks for a cloud disk image to be fetched from URL (http
// or https) and stored as image Name. Exactly one of SHA256 and SHA512
// (hex) is required: the download is checked against it before anything
// else reads it. Cmdline is as for Commit.
type ImportRequest struct {
	Name, URL, SHA256, SHA512, Cmdline string
}

// ImportJob is the state of one import, polled by its ID.
type ImportJob struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	URL   string `json:"url"`
	State string `json:"state"`
	// Phase is download, convert (qcow2 only) or inspect; Done and Total
	// count the phase's bytes (Total is -1 while a download's size is
	// unknown).
	Phase string `json:"phase"`
	Done  int64  `json:"bytes_done"`
	Total int64  `json:"bytes_total"`
	// Error and Code say why a failed import failed.
	Error    string     `json:"error,omitempty"`
	Code     apiv1.Code `json:"code,omitempty"`
	Image    *Image     `json:"image,omitempty"`
	Created  time.Time  `json:"created"`
	Finished *time.Time `json:"finished,omitempty"`
}

// importer keeps the import jobs of a Store, in memory: a job lost to an
// appliance restart leaves only its temporary directory, which New
// removes.
type importer struct {
	client *http.Client
	wg     sync.WaitGroup

	mu sync.Mutex
	// jobs holds every remembered job by ID; guarded by mu.
	jobs map[string]*ImportJob
	// running counts the running jobs; guarded by mu.
	running int
}

// newImporter returns an importer whose downloads connect and get headers
// within bounded times, through the environment's proxy if there is one.
func newImporter() *importer {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}
	return &importer{client: &http.Client{Transport: tr}, jobs: map[string]*ImportJob{}}
}

// checkImport validates q.
func checkImport(q ImportRequest) error {
	u, err := url.Parse(q.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: url %q: want an http or https URL", ErrInvalid, q.URL)
	}
	switch {
	case (q.SHA256 == "") == (q.SHA512 == ""):
		return fmt.Errorf("%w: give exactly one of sha256 and sha512", ErrInvalid)
	case q.SHA256 != "" && !isHex(q.SHA256, 32):
		return fmt.Errorf("%w: sha256 must be 64 hex digits", ErrInvalid)
	case q.SHA512 != "" && !isHex(q.SHA512, 64):
		return fmt.Errorf("%w: sha512 must be 128 hex digits", ErrInvalid)
	}
	return nil
}

// isHex reports whether s is n bytes in hex.
func isHex(s string, n int) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == n
}

// Import starts importing q in the background and returns its job.
func (s *Store) Import(q ImportRequest) (ImportJob, error) {
	if err := checkImport(q); err != nil {
		return ImportJob{}, err
	}
	if err := s.CheckName(q.Name); err != nil {
		return ImportJob{}, err
	}
	id, err := store.NewID("import-")
	if err != nil {
		return ImportJob{}, err
	}
	imp := s.imp
	imp.mu.Lock()
	defer imp.mu.Unlock()
	if imp.running >= MaxRunningImports {
		return ImportJob{}, fmt.Errorf("%w: at most %d", ErrBusy, MaxRunningImports)
	}
	imp.forgetOld()
	job := &ImportJob{ID: id, Name: q.Name, URL: q.URL, State: ImportRunning, Phase: PhaseDownload,
		Total: -1, Created: s.now().UTC()}
	imp.jobs[id] = job
	imp.running++
	imp.wg.Add(1)
	go func() {
		defer imp.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), importTimeout)
		defer cancel()
		img, err := s.runImport(ctx, job.ID, q)
		s.imp.end(job.ID, img, err, s.now().UTC())
	}()
	return *job, nil
}

// ImportJob returns import job id.
func (s *Store) ImportJob(id string) (ImportJob, error) {
	s.imp.mu.Lock()
	defer s.imp.mu.Unlock()
	j, ok := s.imp.jobs[id]
	if !ok {
		return ImportJob{}, fmt.Errorf("import %q: %w", id, apiv1.NotFound)
	}
	return *j, nil
}

// ImportJobs lists the remembered import jobs, oldest first.
func (s *Store) ImportJobs() []ImportJob {
	s.imp.mu.Lock()
	defer s.imp.mu.Unlock()
	out := make([]ImportJob, 0, len(s.imp.jobs))
	for _, j := range s.imp.jobs {
		out = append(out, *j)
	}
	sort.Slice(out, func(i, k int) bool {
		if !out[i].Created.Equal(out[k].Created) {
			return out[i].Created.Before(out[k].Created)
		}
		return out[i].ID < out[k].ID
	})
	return out
}

// WaitImports waits until no import runs.
func (s *Store) WaitImports() { s.imp.wg.Wait() }

// forgetOld drops the oldest finished jobs beyond maxFinishedJobs; the
// caller holds mu.
func (imp *importer) forgetOld() {
	var done []*ImportJob
	for _, j := range imp.jobs {
		if j.State != ImportRunning {
			done = append(done, j)
		}
	}
	sort.Slice(done, func(i, k int) bool { return done[i].Finished.Before(*done[k].Finished) })
	for len(done) >= maxFinishedJobs {
		delete(imp.jobs, done[0].ID)
		done = done[1:]
	}
}

// update sets job id's phase and progress.
func (imp *importer) update(id, phase string, done, total int64) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	j := imp.jobs[id]
	j.Phase, j.Done, j.Total = phase, done, total
}

// end records how job id ended.
func (imp *importer) end(id string, img Image, err error, now time.Time) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	j := imp.jobs[id]
	imp.running--
	j.Finished = &now
	if err != nil {
		j.State, j.Error, j.Code = ImportFailed, err.Error(), apiv1.CodeOf(err)
		return
	}
	j.State, j.Image = ImportSucceeded, &img
}

// runImport downloads q.URL into a fresh upload, checks its digest and
// commits it as a disk image. Whatever fails, the upload is removed.
func (s *Store) runImport(ctx context.Context, id string, q ImportRequest) (Image, error) {
	up, err := s.Begin()
	if err != nil {
		return Image{}, err
	}
	defer up.Abort()
	up.url = q.URL
	if err := s.download(ctx, id, up, q.URL); err != nil {
		return Image{}, err
	}
	if err := up.CheckDigest(q.SHA256, q.SHA512); err != nil {
		return Image{}, err
	}
	return up.CommitDisk(ctx, q.Name, q.Cmdline, func(phase string, done, total int64) {
		s.imp.update(id, phase, done, total)
	})
}

// download streams rawURL into up's disk part, counting the bytes.
func (s *Store) download(ctx context.Context, id string, up *Upload, rawURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("%w: url: %v", ErrInvalid, err)
	}
	resp, err := s.imp.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: download: %v", ErrInvalid, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: download: %s answered %s", ErrInvalid, req.URL.Host, resp.Status)
	}
	total := resp.ContentLength
	if total > MaxDisk {
		return fmt.Errorf("%w: download is %d bytes, larger than %d", ErrInvalid, total, int64(MaxDisk))
	}
	s.imp.update(id, PhaseDownload, 0, total)
	cr := &countingReader{r: resp.Body, report: func(n int64) { s.imp.update(id, PhaseDownload, n, total) }}
	if err := up.addFile(PartDisk, cr); err != nil {
		if cr.err != nil {
			return fmt.Errorf("%w: download cut short after %d bytes: %v", ErrInvalid, cr.n, cr.err)
		}
		return err
	}
	if total >= 0 && cr.n != total {
		return fmt.Errorf("%w: download is %d bytes, the server announced %d", ErrInvalid, cr.n, total)
	}
	return nil
}

// countingReader counts what it reads, reports it every reportStep
// bytes, and remembers the error of the stream it reads.
type countingReader struct {
	r      io.Reader
	n      int64
	last   int64
	err    error
	report func(n int64)
}

// reportStep is how many downloaded bytes pass between progress updates.
const reportStep = 1 << 20

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n-c.last >= reportStep || err != nil {
		c.report(c.n)
		c.last = c.n
	}
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}
