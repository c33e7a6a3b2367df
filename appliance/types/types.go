// Package types holds the instance-type catalogue (names with vCPUs and
// memory) and the host capacity check.
//
// The built-in table runs from nano (1 vCPU, 64 MiB) to 64xlarge (256 vCPUs,
// 256 GiB); the admin can add types, which are validated and kept in the
// store's instance_types bucket. Built-in names cannot be replaced.
package types

import (
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// MiB and GiB are byte counts.
const (
	MiB uint64 = 1 << 20
	GiB uint64 = 1 << 30
)

// Bounds for a valid type. The memory ceiling is far above any host we run
// on but keeps arithmetic (vCPU and memory sums, metering products) far from
// overflow.
const (
	MaxVCPUs    = 1024
	MinMemBytes = 16 * MiB
	MaxMemBytes = 16 << 40 // 16 TiB
	MaxNameLen  = 64
)

// Type is an instance type: a name, a number of vCPUs and guest memory.
type Type struct {
	Name     string `json:"name"`
	VCPUs    int    `json:"vcpus"`
	MemBytes uint64 `json:"mem_bytes"`
	// Builtin is true for the types compiled into Ironvisor.
	Builtin bool `json:"builtin"`
}

// MemMiB returns the memory size in MiB.
func (t Type) MemMiB() uint64 { return t.MemBytes / MiB }

// String renders a type as "small (1 vCPU, 512 MiB)".
func (t Type) String() string {
	unit := "vCPUs"
	if t.VCPUs == 1 {
		unit = "vCPU"
	}
	return fmt.Sprintf("%s (%d %s, %s)", t.Name, t.VCPUs, unit, FormatBytes(t.MemBytes))
}

// builtin is the compiled-in table, smallest first. The ratio follows EC2's
// general-purpose families: 1 GiB per vCPU from medium upwards, with smaller
// sizes for tiny guests.
var builtin = []Type{
	{Name: "nano", VCPUs: 1, MemBytes: 64 * MiB},
	{Name: "micro", VCPUs: 1, MemBytes: 256 * MiB},
	{Name: "small", VCPUs: 1, MemBytes: 512 * MiB},
	{Name: "medium", VCPUs: 2, MemBytes: 1 * GiB},
	{Name: "large", VCPUs: 2, MemBytes: 2 * GiB},
	{Name: "xlarge", VCPUs: 4, MemBytes: 4 * GiB},
	{Name: "2xlarge", VCPUs: 8, MemBytes: 8 * GiB},
	{Name: "4xlarge", VCPUs: 16, MemBytes: 16 * GiB},
	{Name: "8xlarge", VCPUs: 32, MemBytes: 32 * GiB},
	{Name: "16xlarge", VCPUs: 64, MemBytes: 64 * GiB},
	{Name: "32xlarge", VCPUs: 128, MemBytes: 128 * GiB},
	{Name: "64xlarge", VCPUs: 256, MemBytes: 256 * GiB},
}

// Builtin returns a copy of the built-in table, smallest first.
func Builtin() []Type {
	out := make([]Type, len(builtin))
	for i, t := range builtin {
		t.Builtin = true
		out[i] = t
	}
	return out
}

// LookupBuiltin returns the built-in type called name.
func LookupBuiltin(name string) (Type, bool) {
	for _, t := range Builtin() {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = apiv1.NewError(apiv1.InvalidParameter, "invalid instance type")

// ValidateName checks a type name: 1..64 characters from [a-z0-9.-],
// starting with a letter or digit.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: name must be 1..%d characters", ErrInvalid, MaxNameLen)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return fmt.Errorf("%w: name %q: character %q at %d not allowed (use a-z, 0-9, '.', '-')", ErrInvalid, name, c, i)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: name %q contains \"..\"", ErrInvalid, name)
	}
	return nil
}

// Validate checks a type: a valid name, 1..MaxVCPUs vCPUs, and memory that
// is a whole number of MiB between MinMemBytes and MaxMemBytes.
func Validate(t Type) error {
	if err := ValidateName(t.Name); err != nil {
		return err
	}
	if t.VCPUs < 1 || t.VCPUs > MaxVCPUs {
		return fmt.Errorf("%w: %s: vcpus %d not in 1..%d", ErrInvalid, t.Name, t.VCPUs, MaxVCPUs)
	}
	if t.MemBytes%MiB != 0 {
		return fmt.Errorf("%w: %s: memory %d bytes is not a multiple of 1 MiB", ErrInvalid, t.Name, t.MemBytes)
	}
	if t.MemBytes < MinMemBytes || t.MemBytes > MaxMemBytes {
		return fmt.Errorf("%w: %s: memory %s not in %s..%s", ErrInvalid, t.Name,
			FormatBytes(t.MemBytes), FormatBytes(MinMemBytes), FormatBytes(MaxMemBytes))
	}
	return nil
}

// FormatBytes renders a byte count as "64 MiB", "1.5 GiB" or "123 bytes".
func FormatBytes(n uint64) string {
	switch {
	case n >= GiB && n%(GiB/2) == 0:
		if n%GiB == 0 {
			return fmt.Sprintf("%d GiB", n/GiB)
		}
		return fmt.Sprintf("%d.5 GiB", n/GiB)
	case n >= MiB && n%MiB == 0:
		return fmt.Sprintf("%d MiB", n/MiB)
	case n >= MiB:
		return fmt.Sprintf("%.1f MiB", float64(n)/float64(MiB))
	}
	return fmt.Sprintf("%d bytes", n)
}
