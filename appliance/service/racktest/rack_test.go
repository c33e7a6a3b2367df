package racktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
	"github.com/ironvisor/ironvisor/initramfs"
)

// pkg is the package whose tests run in the rack.
const pkg = "github.com/ironvisor/ironvisor/appliance/service"

// rackTimeout bounds the server run: boot, kvm_amd and a few tiny guests
// under nested TCG.
const rackTimeout = 6 * time.Minute

// exitLine is gotest's exit marker with the test binary's status.
var exitLine = regexp.MustCompile(`GOTEST-EXIT (\d+)\r?\n`)

func TestServiceInRack(t *testing.T) {
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gotest.Busybox); err != nil {
		t.Skipf("SKIP: %s not installed (apt-get install busybox-static): %v", gotest.Busybox, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rackTimeout+time.Minute)
	defer cancel()
	dir := t.TempDir()
	initrds := overlays(ctx, t, set, dir)
	start := time.Now()
	srv, err := rack.Start(ctx, rack.Options{
		Name: "service", Kernel: set.HostKernel.Vmlinuz(), Initrds: initrds,
		Append: "console=ttyS0 quiet panic=-1", MemoryMiB: 1024, CPUs: 2,
		ForwardPorts: []int{}, LogDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	m, err := srv.Console.ExpectRegexp(ctx, exitLine)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := strconv.Atoi(m[1])
	out := srv.Console.String()
	if i := strings.Index(out, "GOTEST-BEGIN"); i >= 0 {
		out = out[i:]
	}
	t.Logf("service tests in the rack (%v):\n%s", time.Since(start), out)
	gotest.CheckPassed(t, &gotest.Result{Exit: code, Output: out}, "TestServiceOnKVM")
}

// overlays builds the server's initramfs: gotest's (busybox, the
// service test binary, kvm_amd, an /init running TestServiceOnKVM)
// and a second archive with the ironvisor binary at /bin/ironvisor.
func overlays(ctx context.Context, t *testing.T, set *artefacts.Set, dir string) []string {
	t.Helper()
	bin := filepath.Join(dir, "pkg.test")
	if err := gotest.Compile(ctx, pkg, bin); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "gotest.cpio")
	err := gotest.WriteOverlay(img, set.HostKernel.ModulesDir(), set.HostKernel.Release, bin, gotest.Options{
		Package: pkg, Run: "TestServiceOnKVM", Modules: []string{"kvm_amd"}, Timeout: rackTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Built from this tree, like the test binary: the artefacts' copy may
	// predate the VMM the tests expect.
	iv := filepath.Join(dir, "ironvisor")
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", iv, "github.com/ironvisor/ironvisor/cmd/ironvisor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ironvisor: %v\n%s", err, out)
	}
	b := initramfs.New()
	if err := b.Add(initramfs.HostFile("/bin/ironvisor", 0o755, iv)); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "ironvisor.cpio")
	if _, err := b.WriteFile(extra, initramfs.None); err != nil {
		t.Fatal(fmt.Errorf("ironvisor overlay: %w", err))
	}
	return []string{img, extra}
}
