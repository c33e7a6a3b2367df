package bootjail

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/ironvisor/ironvisor/appliance/images/bootsel"
	"github.com/ironvisor/ironvisor/vmm/jail"
)

// report is the child's one line of stdout: a Result, or a refusal.
type report struct {
	Result
	Stage string `json:"stage,omitempty"`
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Main is the jailed child: args are what follows Command. It enters the
// jail before it reads anything, seals the seccomp filter, reads the disk
// and writes the report to stdout. Its exit status is 0 when it could
// report (a refusal included), 1 otherwise, with the reason on stderr.
func Main(args []string) int {
	if !jail.IsChild() {
		fmt.Fprintln(os.Stderr, "ironvisor bootjail: runs only as a jailed child of the appliance")
		return 2
	}
	files, err := jail.Enter()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor bootjail: enter the jail: %v\n", err)
		return 1
	}
	// Enter wrapped every inherited fd in an *os.File: keep them from a
	// finalizer closing them under the reads.
	defer runtime.KeepAlive(files)
	if err := jail.Seal(); err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor bootjail: %v\n", err)
		return 1
	}
	var q Request
	if len(args) != 1 || json.Unmarshal([]byte(args[0]), &q) != nil || files.Kernel == nil || files.Initrd == nil || len(files.Disks) != 1 {
		fmt.Fprintf(os.Stderr, "ironvisor bootjail: bad arguments %q or files\n", args)
		return 1
	}
	rep := read(files, q)
	rep.PID = os.Getpid()
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintf(os.Stderr, "ironvisor bootjail: write the report: %v\n", err)
		return 1
	}
	return 0
}

// read finds the boot files on the disk and streams them out.
func read(f jail.Files, q Request) report {
	defer f.Kernel.Close()
	defer f.Initrd.Close()
	disk := f.Disks[0]
	fi, err := disk.Stat()
	if err != nil {
		return report{Stage: StageFind, Error: err.Error()}
	}
	b, err := bootsel.Find(disk, fi.Size(), bootsel.Options{Cmdline: q.Cmdline, MaxKernel: q.MaxKernel, MaxInitrd: q.MaxInitrd})
	if err != nil {
		return report{Stage: StageFind, Error: err.Error()}
	}
	r := Result{KernelPath: b.KernelPath, InitrdPath: b.InitrdPath, Root: b.Root,
		RootPartition: b.RootPartition, Cmdline: b.Cmdline, NeedsRecovery: b.NeedsRecovery}
	if r.KernelSize, err = io.Copy(f.Kernel, io.NewSectionReader(b.Kernel, 0, b.Kernel.Size())); err != nil {
		return report{Stage: StageKernel, Path: b.KernelPath, Error: err.Error()}
	}
	f.Kernel.Close()
	if b.Initrd != nil {
		if r.InitrdSize, err = io.Copy(f.Initrd, io.NewSectionReader(b.Initrd, 0, b.Initrd.Size())); err != nil {
			return report{Stage: StageInitrd, Path: b.InitrdPath, Error: err.Error()}
		}
	}
	return report{Result: r}
}
