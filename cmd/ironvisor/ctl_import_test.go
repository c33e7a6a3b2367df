package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

type testHost struct{}

func (testHost) Collect() hostinfo.Host { return hostinfo.Host{Version: "test"} }

var _ api.HostSource = testHost{}

// controlPlane serves a fresh control plane and returns its URL and the
// admin token.
func controlPlane(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cp, err := controlplane.New(controlplane.Config{DB: db, DataDir: dir, Host: testHost{},
		HostCapacity: types.Host{CPUs: 2, MemBytes: types.GiB}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := cp.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, tok
}

// TestCtlImagesImport imports a cloud disk image by URL (with its digest)
// and from a file, through ctl and a real control plane.
func TestCtlImagesImport(t *testing.T) {
	disk := imagetest.CloudDisk(t, testutil.PVHHello("hi", testutil.ExitReset))
	sum := sha256.Sum256(disk)
	file := filepath.Join(t.TempDir(), "debian-12-genericcloud-amd64.raw")
	if err := os.WriteFile(file, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(file))))
	defer web.Close()
	url, tok := controlPlane(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := ctlMain(append([]string{"--url", url, "--token", tok}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("images", "import", web.URL+"/"+filepath.Base(file), "--name", "by-url", "--sha256", hex.EncodeToString(sum[:]))
	if code != 0 || !strings.Contains(out, "by-url") || !strings.Contains(errs, "inspect") {
		t.Fatalf("import URL: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run("images", "import", file)
	if code != 0 || !strings.Contains(out, "debian-12-genericcloud-amd64") || !strings.Contains(errs, "upload") {
		t.Fatalf("import FILE: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = run("images", "import", web.URL+"/"+filepath.Base(file), "--name", "bad", "--sha256", strings.Repeat("0", 64))
	if code != 1 || !strings.Contains(errs, "sha256 mismatch") {
		t.Fatalf("bad digest: exit %d\n%s", code, errs)
	}
	code, _, errs = run("images", "import", web.URL+"/x.qcow2")
	if code != 2 || !strings.Contains(errs, "--sha256") {
		t.Fatalf("no digest: exit %d\n%s", code, errs)
	}
	code, out, _ = run("images", "list")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("images list: %d\n%s", code, out)
	}
}
