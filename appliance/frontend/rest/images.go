package rest

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
)

// uploadTimeout bounds the time to receive one image upload.
const uploadTimeout = 2 * time.Hour

// maxUpload bounds a whole image upload.
const maxUpload = images.MaxKernel + images.MaxInitrd + images.MaxDisk + 1<<20

// notFound returns the NotFound error naming what and key.
func notFound(what, key string) error { return fmt.Errorf("%s %q: %w", what, key, apiv1.NotFound) }

// readAll reads a body of at most max bytes (more is left for the
// decoder to refuse).
func readAll(r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, badRequest("read body: %v", err)
	}
	return b, nil
}

// uploadImage streams a multipart upload (name, kernel?, initrd?, disk?,
// cmdline?, sha256?, sha512?) into the image store; a disk alone is a
// cloud disk image, converted and inspected before the answer. Any
// refusal leaves nothing behind.
func (s *Server) uploadImage(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	// A disk of many GiB takes longer than the server's read and write
	// timeouts (the answer comes after the whole body).
	rc := http.NewResponseController(w)
	if err := errors.Join(rc.SetReadDeadline(time.Now().Add(uploadTimeout)), rc.SetWriteDeadline(time.Now().Add(uploadTimeout))); err != nil {
		fail(w, fmt.Errorf("extend deadlines: %w", err))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		fail(w, badRequest("want a multipart/form-data body: %v", err))
		return
	}
	up, err := s.cfg.Images.Begin()
	if err != nil {
		fail(w, err)
		return
	}
	defer up.Abort()
	fields, err := readParts(mr, up)
	if err != nil {
		fail(w, err)
		return
	}
	if err := up.CheckDigest(fields["sha256"], fields["sha512"]); err != nil {
		fail(w, err)
		return
	}
	img, err := up.CommitDisk(r.Context(), fields["name"], fields["cmdline"], nil)
	out, err := viewOf(img, err, imageView)
	answer(w, http.StatusCreated, out, err)
}

// readParts stores file parts in up and returns the small text fields.
func readParts(mr *multipart.Reader, up *images.Upload) (map[string]string, error) {
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return fields, nil
		}
		if err != nil {
			return nil, badRequest("read multipart body: %v", err)
		}
		name := part.FormName()
		switch name {
		case "name", "cmdline", "sha256", "sha512":
			if _, dup := fields[name]; dup {
				return nil, badRequest("field %q given twice", name)
			}
			b, err := io.ReadAll(io.LimitReader(part, images.MaxCmdline+1))
			if err != nil || len(b) > images.MaxCmdline {
				return nil, badRequest("field %q: unreadable or longer than %d bytes", name, images.MaxCmdline)
			}
			fields[name] = strings.TrimRight(string(b), "\r\n")
		case images.PartKernel, images.PartInitrd, images.PartDisk:
			// A body cut short or over the limit is the client's fault
			// (400), not the store's (500).
			pr := &partReader{r: part}
			if err := up.Add(name, pr); err != nil {
				if pr.err != nil {
					return nil, badRequest("read %s: %v", name, pr.err)
				}
				return nil, err
			}
		default:
			return nil, badRequest("unknown field %q (want name, kernel, initrd, disk, cmdline, sha256, sha512)", name)
		}
	}
}

// partReader remembers the error of reading the client's body.
type partReader struct {
	r   io.Reader
	err error
}

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}

func (s *Server) importImage(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	var q apiv1.ImageImportRequest
	if err := decodeJSON(r.Body, &q, false); err != nil {
		fail(w, err)
		return
	}
	job, err := s.cfg.Images.Import(images.ImportRequest{Name: q.Name, URL: q.URL, SHA256: q.SHA256, SHA512: q.SHA512, Cmdline: q.Cmdline})
	answer(w, http.StatusAccepted, importView(job), err)
}

func (s *Server) listImports(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	answer(w, http.StatusOK, each(s.cfg.Images.ImportJobs(), importView), nil)
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	job, err := s.cfg.Images.ImportJob(p["id"])
	answer(w, http.StatusOK, importView(job), err)
}
