package apiv1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ReasonNoHypervisor is the reason of instances that stay pending because
// the appliance has no hypervisor; a client waiting for them to run stops
// when it sees it.
const ReasonNoHypervisor = "no hypervisor on this host"

// maxAnswer bounds an answer the Client reads.
const maxAnswer = 64 << 20

// Client calls the API with a bearer token. Every call names its route by
// key ("POST /v1/instances"), which must be in Routes: the paths come
// from the contract, and a test checks that the typed methods cover it.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the API at baseURL (e.g.
// https://10.0.0.5:8443) with token; hc carries the TLS settings (nil for
// http.DefaultClient).
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc}
}

// Do calls route key with the {name} segments of its pattern filled from
// params in order, the query and in as the JSON body (nil for none), and
// decodes a JSON answer into out (nil to drop it; a *json.RawMessage or a
// *[]byte keeps the bytes as they came). An error answer is an *Error with its Status.
func (c *Client) Do(ctx context.Context, key string, params []string, query url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.send(ctx, key, params, query, ctype, body, out)
}

// path fills the route's pattern from params, escaping each.
func path(key string, params []string) (method, p string, err error) {
	for _, rt := range Routes() {
		if rt.Key() != key {
			continue
		}
		segs := strings.Split(rt.Pattern, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") {
				if len(params) == 0 {
					return "", "", fmt.Errorf("%s: too few parameters", key)
				}
				segs[i], params = url.PathEscape(params[0]), params[1:]
			}
		}
		if len(params) > 0 {
			return "", "", fmt.Errorf("%s: too many parameters", key)
		}
		return rt.Method, strings.Join(segs, "/"), nil
	}
	return "", "", fmt.Errorf("%s: no such route", key)
}

// send sends one request and decodes the answer into out.
func (c *Client) send(ctx context.Context, key string, params []string, query url.Values, ctype string, body io.Reader, out any) error {
	method, p, err := path(key, params)
	if err != nil {
		return err
	}
	if len(query) > 0 {
		p += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+p, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		e.Status = resp.StatusCode
		return e
	}
	if b, ok := out.(*[]byte); ok {
		*b = raw
		return nil
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", key, err)
	}
	return nil
}

// Upload streams an image upload (POST /v1/images): fields are the text
// parts (name, cmdline), files the file parts (kernel, initrd, disk) by
// path, read as they are sent. out is as for Do.
func (c *Client) Upload(ctx context.Context, fields, files map[string]string, out any) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, fields, files))
	}()
	err := c.send(ctx, "POST /v1/images", nil, nil, mw.FormDataContentType(), pr, out)
	pr.Close()
	return err
}

// UploadStream is Upload with each file part read from a reader, named
// filename in the body, so that the caller can count what is sent.
func (c *Client) UploadStream(ctx context.Context, fields map[string]string, part, filename string, r io.Reader, out any) error {
	return c.uploadStream(ctx, "POST /v1/images", fields, part, filename, r, out)
}

// uploadStream sends a multipart body to the route key: fields first,
// then, unless r is nil, one file part read from r.
func (c *Client) uploadStream(ctx context.Context, key string, fields map[string]string, part, filename string, r io.Reader, out any) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := writeFields(mw, fields)
		if err == nil && r != nil {
			var w io.Writer
			if w, err = mw.CreateFormFile(part, filename); err == nil {
				_, err = io.Copy(w, r)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	err := c.send(ctx, key, nil, nil, mw.FormDataContentType(), pr, out)
	pr.Close()
	return err
}

// writeFields writes the text parts of an upload, sorted by name.
func writeFields(mw *multipart.Writer, fields map[string]string) error {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := mw.WriteField(k, fields[k]); err != nil {
			return err
		}
	}
	return nil
}

// writeParts writes the multipart body of an upload.
func writeParts(mw *multipart.Writer, fields, files map[string]string) error {
	if err := writeFields(mw, fields); err != nil {
		return err
	}
	for k, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		w, err := mw.CreateFormFile(k, filepath.Base(p))
		if err == nil {
			_, err = io.Copy(w, f)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("send %s: %w", p, err)
		}
	}
	return mw.Close()
}
