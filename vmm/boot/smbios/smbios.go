// Package smbios builds the SMBIOS tables (DMTF DSP0134 3.0) a guest reads
// to learn what machine it runs on: the BIOS (type 0), the system with its
// manufacturer, product, serial number and UUID (type 1), the chassis with
// its asset tag (type 3), and the end-of-table marker (type 127).
//
// Linux finds the tables without firmware by scanning 0xF0000..0xFFFFF for
// the 64-bit "_SM3_" entry point (drivers/firmware/dmi_scan.c), and exports
// them as /sys/class/dmi/id/*, which cloud-init's ds-identify, dmidecode and
// cloud agents read to recognise their platform and the instance's ID. The
// entry point goes at boot.SMBIOSAddr and the structure table after it, in
// the BIOS area the e820 map already reserves.
//
// Every string comes from the VMM's configuration (an instance ID, a
// serial): Build refuses strings that are not printable ASCII or are too
// long, rather than let them break the string set.
package smbios

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/vmm/boot"
)

// ErrInvalid is wrapped by errors about an Info that cannot be encoded.
var ErrInvalid = errors.New("smbios: invalid information")

// Defaults for empty Info fields.
const (
	DefaultManufacturer = "Ironvisor"
	DefaultProduct      = "Ironvisor VM"
	DefaultBIOSVersion  = "1.0"
	// DefaultBIOSDate is the BIOS release date, MM/DD/YYYY (DSP0134
	// 7.1, "BIOS Release Date").
	DefaultBIOSDate = "01/01/2026"
)

// maxString bounds one string; SMBIOS sets no limit, but a NoCloud seed URL
// in the serial ("ds=nocloud;s=http://...") fits easily.
const maxString = 255

// Info is what the tables say. Empty strings are left out of the tables
// (string number 0), except where a default is documented.
type Info struct {
	// Manufacturer is the system's and chassis's manufacturer
	// (/sys/class/dmi/id/sys_vendor, chassis_vendor); "" means
	// DefaultManufacturer.
	Manufacturer string
	// Product is the product name (product_name); "" means DefaultProduct.
	Product string
	// Version is the product version (product_version).
	Version string
	// Serial is the system serial number (product_serial): the instance's
	// ID, or a NoCloud seed.
	Serial string
	// UUID identifies the instance (product_uuid), in canonical byte
	// order, as ParseUUID returns it; all zeros means "not set".
	UUID [16]byte
	// SKU and Family are the system's SKU number and family.
	SKU, Family string
	// AssetTag is the chassis asset tag (chassis_asset_tag), which some
	// datasources match to recognise their cloud.
	AssetTag string
	// BIOSVendor, BIOSVersion and BIOSDate describe the firmware; ""
	// means Manufacturer, DefaultBIOSVersion and DefaultBIOSDate.
	BIOSVendor, BIOSVersion, BIOSDate string
}

// withDefaults returns info with its documented defaults filled in.
func (info Info) withDefaults() Info {
	if info.Manufacturer == "" {
		info.Manufacturer = DefaultManufacturer
	}
	if info.Product == "" {
		info.Product = DefaultProduct
	}
	if info.BIOSVendor == "" {
		info.BIOSVendor = info.Manufacturer
	}
	if info.BIOSVersion == "" {
		info.BIOSVersion = DefaultBIOSVersion
	}
	if info.BIOSDate == "" {
		info.BIOSDate = DefaultBIOSDate
	}
	return info
}

// ParseUUID parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into canonical
// (big-endian) byte order.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: UUID %q is not in 8-4-4-4-12 form", ErrInvalid, s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("%w: UUID %q is not hexadecimal", ErrInvalid, s)
	}
	copy(u[:], b)
	return u, nil
}

// Memory is where Write puts the tables: guest RAM (*memory.Memory).
type Memory interface {
	WriteAt(p []byte, gpa uint64) error
}

// Write builds the tables for info and writes the entry point at
// boot.SMBIOSAddr and the structure table at boot.SMBIOSTableAddr. It
// checks everything before writing anything.
func Write(mem Memory, info Info) error {
	ep, table, err := Build(info, boot.SMBIOSTableAddr)
	if err != nil {
		return err
	}
	if uint64(len(table)) > boot.SMBIOSEnd-boot.SMBIOSTableAddr {
		return fmt.Errorf("%w: %d-byte table does not fit below %#x", ErrInvalid, len(table), boot.SMBIOSEnd)
	}
	if err := mem.WriteAt(ep, boot.SMBIOSAddr); err != nil {
		return fmt.Errorf("write SMBIOS entry point: %w", err)
	}
	if err := mem.WriteAt(table, boot.SMBIOSTableAddr); err != nil {
		return fmt.Errorf("write SMBIOS table: %w", err)
	}
	return nil
}

// Build returns the 64-bit entry point, pointing at tableAddr, and the
// structure table for info.
func Build(info Info, tableAddr uint64) (entry, table []byte, err error) {
	info = info.withDefaults()
	for _, s := range []string{info.Manufacturer, info.Product, info.Version, info.Serial, info.SKU,
		info.Family, info.AssetTag, info.BIOSVendor, info.BIOSVersion, info.BIOSDate} {
		if err := checkString(s); err != nil {
			return nil, nil, err
		}
	}
	table = append(table, biosInfo(info)...)
	table = append(table, systemInfo(info)...)
	table = append(table, chassisInfo(info)...)
	table = append(table, endOfTable()...)
	return entryPoint(tableAddr, len(table)), table, nil
}

// checkString refuses a string the string set cannot hold.
func checkString(s string) error {
	if len(s) > maxString {
		return fmt.Errorf("%w: string of %d bytes (at most %d)", ErrInvalid, len(s), maxString)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("%w: string %q has a byte %#x that is not printable ASCII", ErrInvalid, s, s[i])
		}
	}
	return nil
}

// entryPoint returns the SMBIOS 3.0 64-bit entry point (DSP0134 5.2.2,
// table 3): "_SM3_", checksum, length 0x18, version 3.0.0, entry point
// revision 1, reserved, structure table maximum size, table address. The
// bytes sum to zero.
func entryPoint(tableAddr uint64, tableLen int) []byte {
	ep := make([]byte, entryPointLen)
	copy(ep, "_SM3_")
	ep[6] = entryPointLen
	ep[7], ep[8], ep[9] = 3, 0, 0 // SMBIOS 3.0.0
	ep[10] = 1                    // entry point revision: 3.0
	binary.LittleEndian.PutUint32(ep[12:], uint32(tableLen))
	binary.LittleEndian.PutUint64(ep[16:], tableAddr)
	ep[5] = checksum(ep)
	return ep
}

// entryPointLen is the 64-bit entry point's length.
const entryPointLen = 0x18

// checksum returns the byte that makes b sum to zero (b's own checksum
// byte must be zero when it is computed).
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}
