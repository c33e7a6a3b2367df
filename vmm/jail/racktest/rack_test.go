package racktest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
	"github.com/ironvisor/ironvisor/build/rack/gotest"
)

func TestJailInRack(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	res, err := gotest.Run(ctx, set, gotest.Options{
		Package: "github.com/ironvisor/ironvisor/vmm/jail",
		Timeout: 5 * time.Minute, LogDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("jail tests in the rack: %v", res.Elapsed)
	gotest.CheckPassed(t, res, "TestMemoryMaxEnforced", "TestJailConfinesChild", "TestForbiddenSyscallKills")
}
