package acpi

import (
	"testing"

	"github.com/ironvisor/ironvisor/vmm/memory"
)

// FuzzBuild builds tables from arbitrary CPU counts and device windows: Build
// must refuse or succeed, never panic, and the tables it writes must sum to
// zero.
func FuzzBuild(f *testing.F) {
	f.Add(2, uint64(0xd0000000), uint64(0x1000), uint32(5), uint8(3))
	f.Add(254, uint64(0xfffff000), uint64(0x1000), uint32(23), uint8(19))
	mem := memory.FromBytes(make([]byte, 1<<20))
	f.Fuzz(func(t *testing.T, cpus int, base, size uint64, gsi uint32, n uint8) {
		cfg := Config{CPUs: cpus}
		for i := range uint64(n) {
			cfg.Devices = append(cfg.Devices, MMIODevice{Base: base + i*size, Size: size, GSI: gsi})
		}
		if err := Build(mem, cfg); err != nil {
			return
		}
		buildTables(t, cfg)
	})
}
