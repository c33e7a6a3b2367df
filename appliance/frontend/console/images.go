package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/images"
)

// Images, and the admin's image imports with their progress.

// imagesPage is the image list and, for the admin, the import jobs
// (newest first).
type imagesPage struct {
	Items   []images.Image
	Imports []importRow
}

// importRow is an import job with its progress in the current phase: a
// percentage, or -1 while the size is unknown.
type importRow struct {
	images.ImportJob
	Percent int
}

// rowOf works out the progress of job j.
func rowOf(j images.ImportJob) importRow {
	r := importRow{ImportJob: j, Percent: -1}
	switch {
	case j.State == images.ImportSucceeded:
		r.Percent = 100
	case j.Total > 0:
		r.Percent = int(min(100, max(0, j.Done*100/j.Total)))
	}
	return r
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, c *call) {
	imgs, err := s.cfg.Images.List()
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	p := imagesPage{Items: imgs}
	if c.who.Admin {
		for _, j := range s.cfg.Images.ImportJobs() {
			p.Imports = append(p.Imports, rowOf(j))
		}
		slices.Reverse(p.Imports)
	}
	s.render(w, r, c, http.StatusOK, "images", "Images", p)
}

// importImage starts an import from the admin's form: name, url, the
// digest (sha256 or sha512, chosen by its length) and an optional
// cmdline. The store checks them all; the page then follows the job.
func (s *Server) importImage(w http.ResponseWriter, r *http.Request, c *call) {
	f := r.PostForm
	q := images.ImportRequest{Name: strings.TrimSpace(f.Get("name")), URL: strings.TrimSpace(f.Get("url")),
		Cmdline: strings.TrimSpace(f.Get("cmdline"))}
	switch d := strings.ToLower(strings.TrimSpace(f.Get("digest"))); len(d) {
	case 128:
		q.SHA512 = d
	default:
		q.SHA256 = d
	}
	j, err := s.cfg.Images.Import(q)
	s.finish(w, r, c, err, Prefix+"images", "Importing "+j.Name+" ("+j.ID+").")
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, c *call) {
	img, err := s.cfg.Images.Get(r.PathValue("id"))
	if err == nil {
		err = s.cfg.Images.Delete(img.ID)
	}
	s.finish(w, r, c, err, Prefix+"images", "Image "+img.Name+" deleted.")
}
