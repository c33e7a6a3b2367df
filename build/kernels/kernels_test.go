package kernels

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeApt answers like apt-cache, apt-get download and dpkg-deb for one
// kernel package, and counts downloads. When offline, apt-cache fails.
type fakeApt struct {
	downloads int
	offline   bool
}

func (f *fakeApt) run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := name + " " + strings.Join(args, " ")
	switch {
	case f.offline && name == "apt-cache":
		return nil, errors.New("apt-cache: no network")
	case strings.HasPrefix(cmd, "apt-cache depends"):
		return []byte("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n"), nil
	case strings.HasPrefix(cmd, "apt-cache show"):
		return []byte("Package: linux-image-6.1.0-56-amd64\nVersion: 6.1.192-2\n"), nil
	case cmd == "apt-get download -q linux-image-6.1.0-56-amd64=6.1.192-2":
		f.downloads++
		return nil, os.WriteFile(filepath.Join(dir, "linux-image.deb"), []byte("deb"), 0o644)
	case name == "dpkg-deb" && len(args) == 3 && args[0] == "-x":
		boot := filepath.Join(args[2], "boot")
		if err := os.MkdirAll(boot, 0o755); err != nil {
			return nil, err
		}
		return nil, os.WriteFile(filepath.Join(boot, "vmlinuz-6.1.0-56-amd64"), []byte("bzImage"), 0o644)
	}
	return nil, errors.New("unexpected command: " + cmd)
}

func TestGetDownloadsOnceThenUsesCache(t *testing.T) {
	apt := &fakeApt{}
	c := &Cache{Dir: t.TempDir(), Run: apt.run}
	ctx := context.Background()
	k, err := c.Get(ctx, HostMeta)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-56-amd64" || k.Version != "6.1.192-2" || k.Package != "linux-image-6.1.0-56-amd64" {
		t.Errorf("kernel = %+v", k)
	}
	if _, err := os.Stat(k.Vmlinuz()); err != nil {
		t.Errorf("vmlinuz: %v", err)
	}
	if want := filepath.Join(c.Dir, "6.1.0-56-amd64", "lib", "modules", "6.1.0-56-amd64"); k.ModulesDir() != want {
		t.Errorf("modules dir = %s, want %s", k.ModulesDir(), want)
	}
	again, err := c.Get(ctx, HostMeta)
	if err != nil {
		t.Fatal(err)
	}
	if apt.downloads != 1 || again != k {
		t.Errorf("second Get: downloads=%d kernel=%+v; want 1 download and the same kernel", apt.downloads, again)
	}
	apt.offline = true
	offline, err := c.Get(ctx, HostMeta)
	if err != nil || offline != k {
		t.Errorf("offline Get = %+v, %v; want the cached kernel", offline, err)
	}
	if _, err := c.Get(ctx, GuestMeta); err == nil {
		t.Error("offline Get of an uncached flavour succeeded")
	}
	leftovers, _ := filepath.Glob(filepath.Join(c.Dir, ".download-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary folders left behind: %v", leftovers)
	}
}

func TestParseDepends(t *testing.T) {
	out := "linux-image-cloud-amd64\n  Depends: linux-base\n |Depends: linux-image-6.1.0-56-cloud-amd64\n"
	got, err := parseDepends([]byte(out))
	if err != nil || got != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("parseDepends = %q, %v", got, err)
	}
	if _, err := parseDepends([]byte("x\n  Depends: linux-base\n")); err == nil {
		t.Error("parseDepends found a dependency in output without one")
	}
	if _, err := parseVersion([]byte("Package: x\n")); err == nil {
		t.Error("parseVersion found a version in output without one")
	}
}

func TestRelease(t *testing.T) {
	for in, want := range map[string]string{
		"linux-image-6.1.0-56-amd64":          "6.1.0-56-amd64",
		"linux-image-6.1.0-56-cloud-amd64":    "6.1.0-56-cloud-amd64",
		"linux-image-6.1.0-56-amd64-unsigned": "6.1.0-56-amd64",
	} {
		if got := Release(in); got != want {
			t.Errorf("Release(%q) = %q, want %q", in, got, want)
		}
	}
}
