// Package hostinfo collects the host document served by GET /v1/host:
// version, hostname, uptime, CPU, memory, KVM, addresses, the data
// directory's file system and the start-up timeline. It reads /proc under a root that tests can replace.
package hostinfo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/appliance/version"
	"github.com/ironvisor/ironvisor/vmm/kvm"
)

// Host is the host document.
type Host struct {
	Version       string             `json:"version"`
	Mode          string             `json:"mode"` // "appliance" (PID 1) or "service"
	Hostname      string             `json:"hostname"`
	UptimeSeconds float64            `json:"uptime_seconds"`
	CPU           CPU                `json:"cpu"`
	Memory        Memory             `json:"memory"`
	KVM           KVM                `json:"kvm"`
	Addresses     []Address          `json:"addresses"`
	Boot          timeline.Report    `json:"boot"`
	Failures      []timeline.Failure `json:"failures"`
	// Watchdog is the hardware watchdog PID 1 pets; nil when none is
	// armed (absent, turned off, or not PID 1).
	Watchdog *Watchdog `json:"watchdog,omitempty"`
	// Update is the boot slots and the last self-update; nil when not
	// PID 1.
	Update *Update `json:"update,omitempty"`
	// ConfigSources are the configuration's sources and how each was
	// used; nil when not PID 1.
	ConfigSources []ConfigSource `json:"config_sources,omitempty"`
	// Storage is the data directory's file system and how root volumes
	// are made on it; nil when no data directory is known.
	Storage *Storage `json:"storage,omitempty"`
}

// Watchdog describes the armed hardware watchdog.
type Watchdog struct {
	Device         string    `json:"device"`
	TimeoutSeconds int       `json:"timeout_seconds"`
	LastPet        time.Time `json:"last_pet"` // zero before the first
	Healthy        bool      `json:"healthy"`  // the last health check passed and the pet was written
	Error          string    `json:"error,omitempty"`
}

// CPU describes the processors.
type CPU struct {
	Model string `json:"model"`
	Count int    `json:"count"`
}

// Memory describes the RAM.
type Memory struct {
	TotalBytes uint64 `json:"total_bytes"`
}

// KVM says whether /dev/kvm can run guests, and which kind it is.
type KVM struct {
	Device string   `json:"device"`
	Kind   kvm.Kind `json:"kind"`
	Works  bool     `json:"works"`
	Error  string   `json:"error"`
}

// Address is one address of one interface.
type Address struct {
	Interface string `json:"interface"`
	CIDR      string `json:"cidr"`
}

// Collector gathers the host document. Its zero value is not usable; fill
// every field (New does).
type Collector struct {
	Mode      string                  // reported as Host.Mode
	ProcRoot  string                  // where proc is mounted, normally /proc
	KVMDevice string                  // normally /dev/kvm
	Probe     func(string) kvm.Status // normally kvm.Probe
	Addresses func() ([]Address, error)
	Timeline  *timeline.Timeline // nil means no start-up was recorded
	// Watchdog reports the hardware watchdog; nil, or a nil answer, means
	// none is armed.
	Watchdog func() *Watchdog
	// Update reports the boot slots; nil, or a nil answer, means none.
	Update func() *Update
	// ConfigSources reports the configuration's sources; nil means none.
	ConfigSources func() []ConfigSource
	// DataDir is the folder holding the state, images and volumes; its
	// file system is probed once (Storage). Empty means none reported.
	DataDir string
	storage storageProbe
}

// New returns a Collector for this host.
func New(mode string, tl *timeline.Timeline) *Collector {
	return &Collector{Mode: mode, ProcRoot: "/proc", KVMDevice: "/dev/kvm",
		Probe: kvm.Probe, Addresses: InterfaceAddresses, Timeline: tl}
}

// Collect gathers the document. A part that cannot be read is left at its
// zero value and its error is added to Failures (step "hostinfo"), so the
// document is always served.
func (c *Collector) Collect() Host {
	h := Host{Version: version.Version, Mode: c.Mode, Addresses: []Address{}}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	h.Hostname, err = readTrimmed(filepath.Join(c.ProcRoot, "sys/kernel/hostname"))
	note(err)
	h.UptimeSeconds, err = Uptime(c.ProcRoot)
	note(err)
	h.CPU, err = ReadCPU(filepath.Join(c.ProcRoot, "cpuinfo"))
	note(err)
	h.Memory.TotalBytes, err = readMemTotal(filepath.Join(c.ProcRoot, "meminfo"))
	note(err)
	st := c.Probe(c.KVMDevice)
	h.KVM = KVM{Device: st.Device, Kind: st.Kind, Works: st.Works, Error: st.Error}
	addrs, err := c.Addresses()
	note(err)
	if addrs != nil { // keep what was read, even if some interface failed
		h.Addresses = addrs
	}
	if c.Timeline != nil {
		h.Boot = c.Timeline.Report()
	} else {
		h.Boot = timeline.Report{Steps: []timeline.Step{}}
	}
	if c.Watchdog != nil {
		h.Watchdog = c.Watchdog()
	}
	if c.Update != nil {
		h.Update = c.Update()
	}
	if c.ConfigSources != nil {
		h.ConfigSources = c.ConfigSources()
	}
	if c.DataDir != "" {
		st := c.storage.get(c.DataDir)
		h.Storage = &st
	}
	h.Failures = append([]timeline.Failure{}, h.Boot.Failures...)
	for _, e := range errs {
		h.Failures = append(h.Failures, timeline.Failure{Step: "hostinfo", Error: e.Error()})
	}
	return h
}

// readTrimmed reads a small file without its trailing newline.
func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Uptime returns the kernel's uptime in seconds from procRoot/uptime.
func Uptime(procRoot string) (float64, error) {
	s, err := readTrimmed(filepath.Join(procRoot, "uptime"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(first, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("parse %s/uptime: bad uptime %q", procRoot, first)
	}
	return v, nil
}

// ReadCPU reads the first "model name" and counts the "processor" entries
// of a /proc/cpuinfo file.
func ReadCPU(path string) (CPU, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return CPU{}, err
	}
	var c CPU
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			c.Count++
		case "model name":
			if c.Model == "" {
				c.Model = strings.TrimSpace(value)
			}
		}
	}
	if c.Count == 0 {
		return c, fmt.Errorf("parse %s: no processor entries", path)
	}
	return c, sc.Err()
}

// readMemTotal returns MemTotal in bytes from a /proc/meminfo file.
func readMemTotal(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || kb > 1<<53 || (len(f) > 2 && f[2] != "kB") {
			return 0, fmt.Errorf("parse %s: bad MemTotal line %q", path, sc.Text())
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("parse %s: no MemTotal line", path)
}

// InterfaceAddresses lists the addresses of every interface but loopback.
func InterfaceAddresses() ([]Address, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := []Address{}
	var errs []error
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			errs = append(errs, fmt.Errorf("addresses of %s: %w", ifc.Name, err))
			continue
		}
		for _, a := range addrs {
			out = append(out, Address{Interface: ifc.Name, CIDR: a.String()})
		}
	}
	return out, errors.Join(errs...)
}
