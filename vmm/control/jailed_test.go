package control

// The control server running where it runs in production: in a jailed VMM
// process, on the passed-in listener fd, under the seccomp allow-list.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/vmm/jail"
)

func TestMain(m *testing.M) {
	if jail.IsChild() {
		os.Exit(jailedServer())
	}
	os.Exit(m.Run())
}

// jailedServer is the jailed child: it serves a fake VM on the control fd
// until the VM is stopped.
func jailedServer() int {
	files, err := jail.Enter()
	if err != nil {
		fmt.Fprintln(os.Stderr, "enter:", err)
		return 3
	}
	l, err := net.FileListener(files.Control)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listener:", err)
		return 3
	}
	files.Control.Close()
	vm := newFakeVM()
	vm.console.Write([]byte("jailed console"))
	s := NewServer(vm)
	go s.Serve(l)
	<-vm.stopped
	s.Close()
	return 0
}

func TestJailedServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the jail needs root")
	}
	mnt, err := jail.CgroupMount()
	if err != nil {
		t.Skipf("SKIP: no cgroup v2 hierarchy: %v", err)
	}
	path := filepath.Join(t.TempDir(), "vm.sock")
	lf, err := ListenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	var stderr bytes.Buffer
	spec := jail.Spec{
		ID: "ctl", UID: 65534, GID: 65534, StateDir: t.TempDir(),
		CgroupParent: filepath.Join(mnt, fmt.Sprintf("ironvisor-ctltest-%d", os.Getpid())),
		Files:        jail.Files{Control: lf}, Stderr: &stderr,
	}
	defer os.Remove(spec.CgroupParent)
	cmd, err := jail.Start(spec)
	if err != nil {
		t.Fatalf("jail.Start: %v", err)
	}
	defer jail.Cleanup(spec)
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	ctx := context.Background()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, err := c.Status(ctx); err != nil || st.State != "running" {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if data, _, err := c.Console(ctx, 0, 0); err != nil || string(data) != "jailed console" {
		t.Errorf("Console = %q, %v", data, err)
	}
	if got, err := c.Counters(ctx); err != nil || len(got) != 2 {
		t.Errorf("Counters = %v, %v", got, err)
	}
	if forced, err := c.Stop(ctx, time.Second); err != nil || forced {
		t.Errorf("Stop = forced %v, %v", forced, err)
	}
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !cmd.ProcessState.Success() {
		t.Fatalf("jailed server exited with %v (signal %v)\nstderr: %s", cmd.ProcessState, ws.Signal(), &stderr)
	}
}
