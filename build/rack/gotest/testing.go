package gotest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/build/artefacts"
)

// Test is the whole of an in-rack test: it finds the artefacts that make
// test built (skipping, with the reason, when there are none), runs o's
// package in a rack server, logs the output and asserts with CheckPassed
// that the binary exited 0, that every test in mustPass passed and that
// nothing skipped. LogDir defaults to t.TempDir().
func Test(t *testing.T, o Options, mustPass ...string) {
	t.Helper()
	set, err := artefacts.FromEnv()
	if errors.Is(err, artefacts.ErrNotBuilt) {
		t.Skipf("SKIP: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(Busybox); err != nil {
		t.Skipf("SKIP: %s not installed (apt-get install busybox-static): %v", Busybox, err)
	}
	o = o.withDefaults()
	if o.LogDir == "" {
		o.LogDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout+time.Minute)
	defer cancel()
	res, err := Run(ctx, set, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s tests in the rack (%v):\n%s", o.Package, res.Elapsed, res.Output)
	CheckPassed(t, res, mustPass...)
}
