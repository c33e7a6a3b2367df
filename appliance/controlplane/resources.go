package controlplane

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// TenantCreated is the answer of POST /v1/tenants.
type TenantCreated struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Token string `json:"token"`
}

// TokenIssued is the answer of POST /v1/tenants/{id}/tokens.
type TokenIssued struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

func (cp *ControlPlane) getHost(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	api.HostHandler(cp.cfg.Host, cp.cfg.TLSFingerprint)(w, r, p)
}

func (cp *ControlPlane) listTenants(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	ts, err := cp.auth.Tenants()
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, ts)
}

func (cp *ControlPlane) createTenant(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	q, err := decodeTenant(r.Body)
	if err != nil {
		fail(w, err)
		return
	}
	t, tok, err := cp.auth.CreateTenant(q.Name)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, TenantCreated{ID: t.ID, Name: t.Name, Token: tok})
}

// tenantOf checks that who may act on tenant id (itself, or the admin).
func (cp *ControlPlane) tenantOf(id string, who auth.Principal) error {
	if !who.CanAccess(id) {
		return fmt.Errorf("tenant %q: %w", id, errNotFound)
	}
	if _, err := cp.auth.Tenant(id); err != nil {
		return fmt.Errorf("tenant %q: %w", id, errNotFound)
	}
	return nil
}

func (cp *ControlPlane) listTokens(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := cp.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	toks, err := cp.auth.ListTokens(p["id"])
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, toks)
}

func (cp *ControlPlane) issueToken(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := cp.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	tok, desc, err := cp.auth.IssueToken(p["id"])
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, TokenIssued{ID: desc.ID, Token: tok})
}

func (cp *ControlPlane) revokeToken(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	if err := cp.tenantOf(p["id"], who); err != nil {
		fail(w, err)
		return
	}
	if err := cp.auth.RevokeToken(p["id"], p["token_id"]); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (cp *ControlPlane) listTypes(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	ts, err := cp.catalog.List()
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, ts)
}

func (cp *ControlPlane) addType(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	b, err := io.ReadAll(io.LimitReader(r.Body, types.MaxRequestBytes+1))
	if err != nil {
		fail(w, badRequest("read body: %v", err))
		return
	}
	t, err := types.DecodeType(b)
	if err == nil {
		t, err = cp.catalog.Add(t)
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, t)
}

func (cp *ControlPlane) listImages(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	all, err := cp.images.List()
	if err != nil {
		fail(w, err)
		return
	}
	if all == nil {
		all = []images.Image{}
	}
	api.JSON(w, http.StatusOK, all)
}

func (cp *ControlPlane) getImage(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	img, err := cp.images.Get(p["id"])
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, img)
}

func (cp *ControlPlane) deleteImage(w http.ResponseWriter, r *http.Request, p api.Params, _ auth.Principal) {
	img, err := cp.images.Get(p["id"])
	if err == nil {
		err = cp.images.Delete(img.ID)
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// uploadTimeout bounds the time to receive one image upload.
const uploadTimeout = 2 * time.Hour

// maxUpload bounds a whole image upload.
const maxUpload = images.MaxKernel + images.MaxInitrd + images.MaxDisk + 1<<20

// uploadImage streams a multipart upload (name, kernel, initrd?, disk?,
// cmdline?) into the image store; any refusal leaves nothing behind.
func (cp *ControlPlane) uploadImage(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
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
	up, err := cp.images.Begin()
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
	img, err := up.Commit(fields["name"], fields["cmdline"])
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, img)
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
		case "name", "cmdline":
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
			return nil, badRequest("unknown field %q (want name, kernel, initrd, disk, cmdline)", name)
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

func (cp *ControlPlane) usage(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	q := r.URL.Query()
	from, to, err := metering.ParseWindow(q.Get("from"), q.Get("to"), cp.cfg.Now())
	if err != nil {
		fail(w, badRequest("%v", err))
		return
	}
	rep, err := cp.meter.Usage(from, to, who.TenantID)
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusOK, rep)
}
