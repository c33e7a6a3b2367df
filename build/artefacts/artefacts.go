// Package artefacts describes the build output folder that `ivbuild
// initramfs` fills and that tests and `ivbuild run` read: the ironvisor
// binary, the appliance initramfs, and the host and guest kernels.
//
// Tests find the folder through the IRONVISOR_ARTEFACTS environment
// variable, which the Makefile sets; FromEnv returns ErrNotBuilt when it is
// unset or the folder is incomplete, so tests can skip with that reason.
package artefacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ironvisor/ironvisor/build/kernels"
)

// EnvVar names the environment variable holding the artefacts folder.
const EnvVar = "IRONVISOR_ARTEFACTS"

// ManifestName is the manifest file inside the artefacts folder.
const ManifestName = "manifest.json"

// ErrNotBuilt means the artefacts are not there; run `make test` (or `make
// initramfs`) to build them.
var ErrNotBuilt = errors.New("artefacts not built; run make test")

// Manifest records what was built. File names are relative to the folder.
type Manifest struct {
	// Ironvisor is the static ironvisor binary.
	Ironvisor string `json:"ironvisor"`
	// Initramfs is the gzip-compressed appliance image.
	Initramfs string `json:"initramfs"`
	// InitramfsSHA256 is the hex sha256 of the Initramfs file.
	InitramfsSHA256 string `json:"initramfs_sha256"`
	// InitramfsBytes and UncompressedBytes are the image sizes.
	InitramfsBytes    int64 `json:"initramfs_bytes"`
	UncompressedBytes int64 `json:"uncompressed_bytes"`
	// Modules is the number of kernel modules in the image, ModuleBytes
	// their total size.
	Modules     int   `json:"modules"`
	ModuleBytes int64 `json:"module_bytes"`
	// HostKernel boots the appliance; GuestKernel is the default guest.
	HostKernel  kernels.Kernel `json:"host_kernel"`
	GuestKernel kernels.Kernel `json:"guest_kernel"`
}

// Set is a loaded artefacts folder with absolute paths.
type Set struct {
	// Dir is the artefacts folder.
	Dir string
	Manifest
}

// Path returns the absolute path of a file named in the manifest.
func (s *Set) Path(name string) string {
	return filepath.Join(s.Dir, name)
}

// InitramfsPath is the appliance initramfs.
func (s *Set) InitramfsPath() string { return s.Path(s.Initramfs) }

// IronvisorPath is the ironvisor binary.
func (s *Set) IronvisorPath() string { return s.Path(s.Ironvisor) }

// Load reads the manifest in dir and checks that every file it names
// exists. Missing files give an error wrapping ErrNotBuilt.
func Load(dir string) (*Set, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artefacts %s: %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(abs, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("artefacts %s: %w (%v)", abs, ErrNotBuilt, err)
	}
	s := &Set{Dir: abs}
	if err := json.Unmarshal(b, &s.Manifest); err != nil {
		return nil, fmt.Errorf("artefacts %s: manifest: %w", abs, err)
	}
	for _, p := range []string{s.IronvisorPath(), s.InitramfsPath(), s.HostKernel.Vmlinuz(), s.GuestKernel.Vmlinuz()} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("artefacts %s: %w (%v)", abs, ErrNotBuilt, err)
		}
	}
	return s, nil
}

// FromEnv loads the folder named by IRONVISOR_ARTEFACTS.
func FromEnv() (*Set, error) {
	dir := os.Getenv(EnvVar)
	if dir == "" {
		return nil, fmt.Errorf("%s is unset: %w", EnvVar, ErrNotBuilt)
	}
	return Load(dir)
}

// Save writes m as the manifest of dir.
func Save(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("artefacts manifest: %w", err)
	}
	return nil
}
