package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ctlClient talks to the appliance API.
type ctlClient struct {
	base  string
	token string
	http  *http.Client
}

// newCtlClient builds a client. With fingerprint the server certificate
// must have that SHA-256 (colons and case ignored), whoever signed it;
// with insecure it is not checked at all.
func newCtlClient(url, token, fingerprint string, insecure bool) (*ctlClient, error) {
	if url == "" {
		return nil, errors.New("no API URL: use --url or IRONVISOR_URL")
	}
	if token == "" {
		return nil, errors.New("no token: use --token or IRONVISOR_TOKEN")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if fingerprint != "" {
		want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
		tc.InsecureSkipVerify = true // replaced by the pin below
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := hex.EncodeToString(sum[:]); got != want {
				return fmt.Errorf("server certificate fingerprint %s does not match --fingerprint", got)
			}
			return nil
		}
	} else if insecure {
		tc.InsecureSkipVerify = true
	}
	return &ctlClient{
		base:  strings.TrimRight(url, "/"),
		token: token,
		http:  &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc}},
	}, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Msg) }

// send sends a request and returns the body of a 2xx answer.
func (c *ctlClient) send(method, path, ctype string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(out, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(out))
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	return out, nil
}

// call sends v as JSON (nil for no body) and decodes a JSON answer into
// out (nil to skip). It returns the raw answer.
func (c *ctlClient) call(method, path string, v, out any) ([]byte, error) {
	var body io.Reader
	ctype := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	raw, err := c.send(method, path, ctype, body)
	if err != nil || out == nil || len(raw) == 0 {
		return raw, err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return raw, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return raw, nil
}

// upload streams an image upload from files, without holding them in
// memory.
func (c *ctlClient) upload(fields map[string]string, files map[string]string) ([]byte, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, fields, files))
	}()
	return c.send("POST", "/v1/images", mw.FormDataContentType(), pr)
}

// writeParts writes the multipart body of an upload.
func writeParts(mw *multipart.Writer, fields map[string]string, files map[string]string) error {
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			return err
		}
	}
	for k, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		w, err := mw.CreateFormFile(k, filepath.Base(path))
		if err == nil {
			_, err = io.Copy(w, f)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("send %s: %w", path, err)
		}
	}
	return mw.Close()
}
