package jail

import (
	"encoding/json"
	"fmt"
	"os"
)

// envConfig is the environment variable that carries childConfig from Start
// to Enter.
const envConfig = "IRONVISOR_JAIL"

// childConfig is what the jailed child needs to confine itself.
type childConfig struct {
	ID      string   `json:"id"`
	Root    string   `json:"root"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	Devices []string `json:"devices"`
	Layout  layout   `json:"files"`
	// Creds says the clone set the ids and gave Enter its capabilities as
	// ambient ones (see execCredentials).
	Creds bool `json:"creds,omitempty"`
	// ExeFD, if not 0, is the fd the VMM was executed through; Enter
	// closes it.
	ExeFD int `json:"exe_fd,omitempty"`
	// Stages are the parent's steps of the start (ParentStages).
	Stages []ParentStage `json:"stages,omitempty"`
}

// layout records which Files slots were passed, so the child can rebuild
// Files from the fixed numbering.
type layout struct {
	KVM     bool `json:"kvm"`
	Control bool `json:"control"`
	Console bool `json:"console"`
	Kernel  bool `json:"kernel"`
	Initrd  bool `json:"initrd"`
	Disks   int  `json:"disks"`
	Taps    int  `json:"taps"`
}

// layoutOf describes f.
func layoutOf(f Files) layout {
	return layout{
		KVM: f.KVM != nil, Control: f.Control != nil, Console: f.Console != nil,
		Kernel: f.Kernel != nil, Initrd: f.Initrd != nil,
		Disks: len(f.Disks), Taps: len(f.Taps),
	}
}

// files rebuilds Files in the child from the fixed numbering.
func (l layout) files() Files {
	open := func(ok bool, fd int, name string) *os.File {
		if !ok {
			return nil
		}
		return os.NewFile(uintptr(fd), name)
	}
	f := Files{
		KVM:     open(l.KVM, FDKVM, "kvm"),
		Control: open(l.Control, FDControl, "control"),
		Console: open(l.Console, FDConsole, "console"),
		Kernel:  open(l.Kernel, FDKernel, "kernel"),
		Initrd:  open(l.Initrd, FDInitrd, "initrd"),
	}
	for i := 0; i < l.Disks; i++ {
		f.Disks = append(f.Disks, open(true, FDDisk0+i, fmt.Sprintf("disk%d", i)))
	}
	for i := 0; i < l.Taps; i++ {
		f.Taps = append(f.Taps, open(true, FDDisk0+l.Disks+i, fmt.Sprintf("tap%d", i)))
	}
	return f
}

// IsChild reports whether this process was started by Start and must call
// Enter before doing anything else.
func IsChild() bool {
	_, ok := os.LookupEnv(envConfig)
	return ok
}

// readConfig reads and removes the child's configuration from the
// environment.
func readConfig() (childConfig, error) {
	var c childConfig
	raw, ok := os.LookupEnv(envConfig)
	if !ok {
		return c, fmt.Errorf("jail: %s not set: not started by jail.Start", envConfig)
	}
	os.Unsetenv(envConfig)
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return c, fmt.Errorf("jail: decode %s: %w", envConfig, err)
	}
	if !ValidID(c.ID) || c.UID == 0 || c.GID == 0 || c.Root == "" {
		return c, fmt.Errorf("jail: bad configuration %+v", c)
	}
	if c.Layout.Disks < 0 || c.Layout.Taps < 0 || c.Layout.Disks+c.Layout.Taps > 1024 {
		return c, fmt.Errorf("jail: bad file layout %+v", c.Layout)
	}
	if c.ExeFD != 0 && c.ExeFD != FDDisk0+c.Layout.Disks+c.Layout.Taps {
		return c, fmt.Errorf("jail: bad executable fd %d for layout %+v", c.ExeFD, c.Layout)
	}
	return c, nil
}
