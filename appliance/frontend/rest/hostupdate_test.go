package rest

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http/httptest"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// updateBody builds a multipart body of fields (in order) and, if uki is
// not nil, a uki part.
func updateBody(fields [][2]string, uki []byte) (*bytes.Buffer, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	if uki != nil {
		w, _ := mw.CreateFormFile("uki", "uki.efi")
		w.Write(uki)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestUpdateHostStreamsThePart(t *testing.T) {
	var gotBody []byte
	var gotURL, gotSum string
	var gotTries int
	s := &Server{cfg: Config{HostUpdate: func(_ context.Context, body io.Reader, url, sum string, tries int) (apiv1.HostUpdate, error) {
		if body != nil {
			gotBody, _ = io.ReadAll(body)
		}
		gotURL, gotSum, gotTries = url, sum, tries
		return apiv1.HostUpdate{Rebooting: true}, nil
	}}}
	call := func(fields [][2]string, uki []byte) int {
		body, ctype := updateBody(fields, uki)
		r := httptest.NewRequest("POST", "/v1/host/update", body)
		r.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		s.updateHost(w, r, nil, auth.Principal{Admin: true})
		return w.Code
	}
	if code := call([][2]string{{"sha256", "ab"}, {"tries", "2"}}, []byte("UKI")); code != 202 || string(gotBody) != "UKI" || gotSum != "ab" || gotTries != 2 || gotURL != "" {
		t.Errorf("upload: %d body %q sum %q tries %d", code, gotBody, gotSum, gotTries)
	}
	gotBody = nil
	if code := call([][2]string{{"url", "http://x/u.efi"}, {"sha256", "cd"}}, nil); code != 202 || gotBody != nil || gotURL != "http://x/u.efi" || gotSum != "cd" {
		t.Errorf("url: %d url %q", code, gotURL)
	}
	for name, c := range map[string]struct {
		fields [][2]string
		uki    []byte
	}{
		"no sha256":       {[][2]string{{"tries", "1"}}, []byte("UKI")},
		"sha256 after":    {nil, []byte("UKI")},
		"nothing":         {[][2]string{{"sha256", "ab"}}, nil},
		"both":            {[][2]string{{"sha256", "ab"}, {"url", "http://x"}}, []byte("UKI")},
		"bad tries":       {[][2]string{{"sha256", "ab"}, {"tries", "x"}}, []byte("UKI")},
		"unknown field":   {[][2]string{{"sha256", "ab"}, {"name", "x"}}, []byte("UKI")},
		"duplicate field": {[][2]string{{"sha256", "ab"}, {"sha256", "ab"}}, []byte("UKI")},
	} {
		if code := call(c.fields, c.uki); code != 400 {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	s.cfg.HostUpdate = nil
	if code := call([][2]string{{"sha256", "ab"}}, []byte("UKI")); code != 409 {
		t.Errorf("no updater: %d, want 409", code)
	}
}
