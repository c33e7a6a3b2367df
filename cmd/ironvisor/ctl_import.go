package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// importPoll is how often "images import" asks for an import's progress.
const importPoll = 500 * time.Millisecond

// importImage is "images import FILE|URL": a URL is fetched by the
// appliance (an import job, polled until it ends), a file is uploaded
// from here; either way the disk is a cloud disk image (qcow2 or raw)
// whose own kernel, initrd and root the appliance reads. A progress line
// goes to stderr.
func (x *ctlCtx) importImage(args []string) error {
	var name, sha256, sha512, cmdline string
	pos, err := x.sub("import", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "image name (default: the file name up to its first dot)")
		fs.StringVar(&sha256, "sha256", "", "expected SHA-256 of the disk image, hex")
		fs.StringVar(&sha512, "sha512", "", "expected SHA-512 of the disk image, hex (as Debian's SHA512SUMS)")
		fs.StringVar(&cmdline, "cmdline", "", "kernel arguments after root=... (default \"ro console=ttyS0\")")
	})
	if err != nil {
		return err
	}
	src := pos[0]
	isURL := strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
	if name == "" {
		name = defaultImageName(src, isURL)
	}
	if isURL {
		if (sha256 == "") == (sha512 == "") {
			return usageError("import URL: give exactly one of --sha256 and --sha512")
		}
		return x.importURL(apiv1.ImageImportRequest{Name: name, URL: src, SHA256: sha256, SHA512: sha512, Cmdline: cmdline})
	}
	fields := map[string]string{"name": name}
	for k, v := range map[string]string{"sha256": sha256, "sha512": sha512, "cmdline": cmdline} {
		if v != "" {
			fields[k] = v
		}
	}
	return x.uploadDisk(src, fields)
}

// defaultImageName is the base name of src up to its first dot
// ("debian-12-genericcloud-amd64.qcow2" gives "debian-12-genericcloud-amd64").
func defaultImageName(src string, isURL bool) string {
	base := filepath.Base(src)
	if isURL {
		u := src
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		base = path.Base(u)
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

// importURL starts an import job and polls it until it ends.
func (x *ctlCtx) importURL(q apiv1.ImageImportRequest) error {
	ctx := context.Background()
	job, err := x.c.ImportImage(ctx, q)
	if err != nil {
		return err
	}
	start := time.Now()
	for job.State == "running" {
		x.progress(job.Phase, job.BytesDone, job.BytesTotal, start)
		time.Sleep(importPoll)
		if job, err = x.c.ImageImport(ctx, job.ID); err != nil {
			fmt.Fprintln(x.errw)
			return err
		}
	}
	x.progress(job.Phase, job.BytesDone, job.BytesTotal, start)
	fmt.Fprintln(x.errw)
	if job.State != "succeeded" || job.Image == nil {
		return &apiv1.Error{Message: fmt.Sprintf("import %s failed: %s", job.ID, job.Error), Code: job.Code}
	}
	raw, err := json.Marshal(job.Image)
	if err != nil {
		return err
	}
	return x.print(raw, imageCols)
}

// uploadDisk uploads the disk image at file with fields, showing how
// much was sent.
func (x *ctlCtx) uploadDisk(file string, fields map[string]string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	cr := &sentCounter{r: f}
	done := make(chan struct{})
	ticker := time.NewTicker(importPoll)
	defer ticker.Stop()
	start := time.Now()
	// printer is the goroutine that prints progress; it has stopped once
	// printer is closed, so that its last line never interleaves with
	// (or races against) the final one.
	printer := make(chan struct{})
	go func() {
		defer close(printer)
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				n := cr.n.Load()
				x.progress("upload", n, fi.Size(), start)
				if n == fi.Size() {
					fmt.Fprint(x.errw, " - the appliance converts and inspects the disk")
				}
			}
		}
	}()
	var raw []byte
	err = x.c.UploadStream(context.Background(), fields, "disk", filepath.Base(file), cr, &raw)
	close(done)
	<-printer
	x.progress("upload", cr.n.Load(), fi.Size(), start)
	fmt.Fprintln(x.errw)
	if err != nil {
		return err
	}
	return x.print(raw, imageCols)
}

// progress prints one progress line: the phase, MiB done of total and
// the time since start.
func (x *ctlCtx) progress(phase string, done, total int64, start time.Time) {
	const mib = 1 << 20
	line := fmt.Sprintf("\r%-8s %8.1f MiB", phase, float64(done)/mib)
	if total > 0 {
		line += fmt.Sprintf(" of %.1f MiB (%3d%%)", float64(total)/mib, done*100/total)
	}
	fmt.Fprintf(x.errw, "%s  %5.1fs ", line, time.Since(start).Seconds())
}

// sentCounter counts the bytes read from r, for a progress line read by
// another goroutine.
type sentCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *sentCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read disk image: %w", err)
	}
	return n, err
}
