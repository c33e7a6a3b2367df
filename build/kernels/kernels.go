// Package kernels fetches Debian kernel packages with apt and unpacks them
// into a cache folder, one folder per kernel release.
//
// Two flavours matter: the host kernel for real servers (linux-image-amd64)
// and the default guest kernel (linux-image-cloud-amd64). A meta package is
// resolved to the versioned package it depends on (for example
// linux-image-6.1.0-56-amd64), downloaded with `apt-get download` and
// unpacked with `dpkg-deb -x` into CACHE/RELEASE. A release that is already
// unpacked is reused without asking apt for anything but its name.
package kernels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Meta packages of the two kernel flavours.
const (
	HostMeta  = "linux-image-amd64"
	GuestMeta = "linux-image-cloud-amd64"
)

// Kernel is one unpacked kernel package.
type Kernel struct {
	// Meta is the meta package it was resolved from.
	Meta string `json:"meta"`
	// Package is the versioned package name.
	Package string `json:"package"`
	// Version is the Debian package version ("6.1.192-2").
	Version string `json:"version"`
	// Release is the kernel release, as `uname -r` prints it.
	Release string `json:"release"`
	// Dir is the folder the package was unpacked into.
	Dir string `json:"dir"`
}

// Vmlinuz returns the path of the compressed kernel image.
func (k Kernel) Vmlinuz() string {
	return filepath.Join(k.Dir, "boot", "vmlinuz-"+k.Release)
}

// ModulesDir returns the /lib/modules/RELEASE folder of the package.
func (k Kernel) ModulesDir() string {
	return filepath.Join(k.Dir, "lib", "modules", k.Release)
}

// String describes the kernel for logs.
func (k Kernel) String() string {
	return fmt.Sprintf("%s %s (release %s)", k.Package, k.Version, k.Release)
}

// Runner runs an external command and returns its standard output. It lets
// tests see what apt would be asked without running it.
type Runner func(ctx context.Context, dir, name string, args ...string) ([]byte, error)

// Exec is the Runner that really runs the command.
func Exec(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLine(stderr.String()))
	}
	return out, nil
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Cache is a kernel cache folder.
type Cache struct {
	// Dir is the cache folder (e.g. .cache/kernels).
	Dir string
	// Run runs apt-get, apt-cache and dpkg-deb; nil means Exec.
	Run Runner
	// Log receives progress lines; nil means silence.
	Log func(format string, args ...any)
}

// manifestName is the file in each release folder that records what was
// unpacked there. Its presence marks a complete unpack.
const manifestName = "ironvisor-kernel.json"

// versionedDep matches the versioned image package in a meta package's
// Depends field.
var versionedDep = regexp.MustCompile(`^linux-image-[0-9][^ ,]*$`)

// Resolve returns the versioned package and its version for a meta
// package, as apt would install it now.
func (c *Cache) Resolve(ctx context.Context, meta string) (pkg, version string, err error) {
	out, err := c.run(ctx, "", "apt-cache", "depends", "--no-recommends", "--no-suggests", meta)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", meta, err)
	}
	pkg, err = parseDepends(out)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", meta, err)
	}
	out, err = c.run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", pkg, err)
	}
	version, err = parseVersion(out)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", pkg, err)
	}
	return pkg, version, nil
}

// parseDepends returns the first versioned linux-image package named in
// `apt-cache depends` output.
func parseDepends(out []byte) (string, error) {
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		v = strings.TrimSpace(v)
		if ok && strings.TrimPrefix(k, "|") == "Depends" && versionedDep.MatchString(v) {
			return v, nil
		}
	}
	return "", errors.New("no versioned linux-image dependency")
}

// parseVersion returns the Version field of `apt-cache show` output.
func parseVersion(out []byte) (string, error) {
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no Version field")
}

// Release returns the kernel release of a versioned package name:
// linux-image-6.1.0-56-amd64 gives 6.1.0-56-amd64.
func Release(pkg string) string {
	return strings.TrimPrefix(strings.TrimSuffix(pkg, "-unsigned"), "linux-image-")
}

// Get returns the kernel for a meta package, downloading and unpacking it
// unless the resolved release is already cached. When apt cannot resolve
// the meta package (offline), the newest cached kernel of the same meta
// package is used, with a log line saying so.
func (c *Cache) Get(ctx context.Context, meta string) (Kernel, error) {
	pkg, version, err := c.Resolve(ctx, meta)
	if err != nil {
		if k, ok := c.cachedFor(meta); ok {
			c.logf("kernels: %v; using cached %s", err, k)
			return k, nil
		}
		return Kernel{}, err
	}
	k := Kernel{Meta: meta, Package: pkg, Version: version, Release: Release(pkg)}
	k.Dir = filepath.Join(c.Dir, k.Release)
	if cached, err := readManifest(k.Dir); err == nil && cached.Version == version {
		cached.Dir = k.Dir
		c.logf("kernels: %s: cached", cached)
		return cached, nil
	}
	if err := c.fetch(ctx, k); err != nil {
		return Kernel{}, err
	}
	c.logf("kernels: %s: downloaded and unpacked", k)
	return k, nil
}

// fetch downloads and unpacks k into k.Dir and writes its manifest last.
func (c *Cache) fetch(ctx context.Context, k Kernel) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".download-")
	if err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	c.logf("kernels: downloading %s %s ...", k.Package, k.Version)
	if _, err := c.run(ctx, tmp, "apt-get", "download", "-q", k.Package+"="+k.Version); err != nil {
		return fmt.Errorf("download %s: %w", k.Package, err)
	}
	debs, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if err != nil || len(debs) != 1 {
		return fmt.Errorf("download %s: expected one .deb, found %v", k.Package, debs)
	}
	unpack := filepath.Join(tmp, "root")
	c.logf("kernels: unpacking %s ...", filepath.Base(debs[0]))
	if _, err := c.run(ctx, "", "dpkg-deb", "-x", debs[0], unpack); err != nil {
		return fmt.Errorf("unpack %s: %w", k.Package, err)
	}
	if _, err := os.Stat(filepath.Join(unpack, "boot", "vmlinuz-"+k.Release)); err != nil {
		return fmt.Errorf("unpack %s: no kernel image: %w", k.Package, err)
	}
	if err := os.RemoveAll(k.Dir); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	if err := os.Rename(unpack, k.Dir); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	return writeManifest(k)
}

// cachedFor returns the newest cached kernel resolved from meta.
func (c *Cache) cachedFor(meta string) (Kernel, bool) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return Kernel{}, false
	}
	var best Kernel
	found := false
	for _, e := range entries {
		k, err := readManifest(filepath.Join(c.Dir, e.Name()))
		if err != nil || k.Meta != meta {
			continue
		}
		k.Dir = filepath.Join(c.Dir, e.Name())
		if !found || k.Release > best.Release {
			best, found = k, true
		}
	}
	return best, found
}

// readManifest reads the manifest of a release folder.
func readManifest(dir string) (Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return Kernel{}, err
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return Kernel{}, fmt.Errorf("kernel manifest %s: %w", dir, err)
	}
	return k, nil
}

// writeManifest records k in its folder.
func writeManifest(k Kernel) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(k.Dir, manifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("kernel manifest: %w", err)
	}
	return nil
}

// run runs a command through c.Run.
func (c *Cache) run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	r := c.Run
	if r == nil {
		r = Exec
	}
	return r(ctx, dir, name, args...)
}

// logf logs through c.Log if set.
func (c *Cache) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}
