package service

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/timeline"
)

// TestPlaneCheck: the health check the hardware watchdog is petted on
// passes while the plane serves, over TLS and over plain HTTP, fails
// while the API does not answer, and fails after Shutdown.
func TestPlaneCheck(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		tl := timeline.New(io.Discard, time.Now(), 0)
		p, err := Open(tl, Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", InsecureHTTP: insecure, NoHypervisor: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Listening but not serving: the connection is taken by the kernel
		// but nobody answers it.
		short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
		if err := p.Check(short); err == nil {
			t.Errorf("insecure=%v: Check passed before Serve", insecure)
		}
		cancelShort()
		p.Serve()
		if err := p.Check(ctx); err != nil {
			t.Errorf("insecure=%v: Check while serving: %v", insecure, err)
		}
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Check(ctx); err == nil || !strings.Contains(err.Error(), "store") {
			t.Errorf("insecure=%v: Check after Shutdown = %v, want a store error", insecure, err)
		}
		cancel()
	}
}

// TestPlaneCheckPinsCertificate: a listener presenting another
// certificate than the plane's fails the check.
func TestPlaneCheckPinsCertificate(t *testing.T) {
	tl := timeline.New(io.Discard, time.Now(), 0)
	p, err := Open(tl, Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NoHypervisor: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	defer p.Shutdown(context.Background())
	p.Fingerprint = strings.Repeat("00:", 31) + "00"
	if err := p.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Check with a wrong pin = %v", err)
	}
}
