package bootjail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// modeEnv makes the jailed child of this test binary misbehave on
// purpose, after it entered the jail: "crash" panics, "hang" never
// answers.
const modeEnv = "BOOTJAIL_TEST_MODE"

func TestMain(m *testing.M) {
	if IsChild() {
		switch os.Getenv(modeEnv) {
		case "crash":
			if _, err := jail.Enter(); err != nil {
				os.Exit(3)
			}
			panic("parser bug")
		case "hang":
			if _, err := jail.Enter(); err != nil {
				os.Exit(3)
			}
			time.Sleep(time.Hour)
		}
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testConfig is a Config in fresh state and cgroup directories, removed
// at the end; it skips where no jail can be started.
func testConfig(t *testing.T) Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the boot reader's jail needs root")
	}
	mnt, err := jail.CgroupMount()
	if err != nil {
		t.Skipf("SKIP: no cgroup v2 mount: %v", err)
	}
	cg := filepath.Join(mnt, fmt.Sprintf("ironvisor-bootjail-test-%d", os.Getpid()))
	t.Cleanup(func() { os.Remove(cg) })
	return Config{StateDir: t.TempDir(), CgroupParent: cg}
}

// diskFile writes b to a file and opens it.
func diskFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var req = Request{MaxKernel: 64 << 20, MaxInitrd: 64 << 20}

// assertNothingLeft checks that no jail root or cgroup leaf remains.
func assertNothingLeft(t *testing.T, c Config) {
	t.Helper()
	if ids, err := jail.List(c.StateDir); err != nil || len(ids) != 0 {
		t.Errorf("jails left in %s: %v %v", c.StateDir, ids, err)
	}
	ents, _ := os.ReadDir(c.CgroupParent)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("cgroup left: %s", filepath.Join(c.CgroupParent, e.Name()))
		}
	}
}

// TestReadRunsInTheJail: the files come out whole, and the parse ran in
// another process, PID 1 of its own PID namespace (its uid:
// TestChildCrashAndHang).
func TestReadRunsInTheJail(t *testing.T) {
	c := testConfig(t)
	kern := testutil.PVHHello("jailed", testutil.ExitHalt)
	disk := diskFile(t, imagetest.CloudDisk(t, kern))
	var k, i bytes.Buffer
	r, err := c.Read(context.Background(), disk, req, &k, &i)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Bytes(), kern) || i.String() != imagetest.CloudInitrd {
		t.Fatalf("kernel %d bytes (want %d), initrd %q", k.Len(), len(kern), i.String())
	}
	if r.KernelPath != imagetest.CloudKernelPath || r.InitrdSize != int64(i.Len()) || !strings.Contains(r.Cmdline, "root=") {
		t.Errorf("result %+v", r)
	}
	if r.PID != 1 || os.Getpid() == 1 {
		t.Errorf("the child saw pid %d (parent %d): want 1, its own PID namespace", r.PID, os.Getpid())
	}
	assertNothingLeft(t, c)
}

// TestReadRefusals: a disk with nothing to boot, and a kernel over the
// limit, come back as ParseErrors with the child's text.
func TestReadRefusals(t *testing.T) {
	c := testConfig(t)
	_, err := c.Read(context.Background(), diskFile(t, make([]byte, 1<<20)), req, &bytes.Buffer{}, &bytes.Buffer{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Stage != StageFind || pe.Msg == "" {
		t.Fatalf("empty disk: %v (%#v), want a find ParseError", err, pe)
	}
	kern := testutil.PVHHello("big", testutil.ExitHalt)
	small := Request{MaxKernel: int64(len(kern)) - 1, MaxInitrd: 1 << 20}
	_, err = c.Read(context.Background(), diskFile(t, imagetest.CloudDisk(t, kern)), small, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.As(err, &pe) {
		t.Fatalf("kernel over the limit: %v, want a ParseError", err)
	}
	assertNothingLeft(t, c)
}

// TestChildCrashAndHang: a child that panics, or never answers, is a
// clear ErrChild (the panic's text, the timeout), and leaves no process,
// root or cgroup behind.
func TestChildCrashAndHang(t *testing.T) {
	c := testConfig(t)
	disk := diskFile(t, imagetest.CloudDisk(t, testutil.PVHHello("x", testutil.ExitHalt)))
	c.Env = []string{modeEnv + "=crash"}
	_, err := c.Read(context.Background(), disk, req, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, ErrChild) || !strings.Contains(err.Error(), "parser bug") {
		t.Fatalf("crash: %v, want ErrChild with the panic", err)
	}
	assertNothingLeft(t, c)
	c.Env, c.Timeout = []string{modeEnv + "=hang"}, 5*time.Second
	start := time.Now()
	seen := make(chan string, 1)
	go func() { seen <- childCreds(c.CgroupParent, start.Add(4*time.Second)) }()
	_, err = c.Read(context.Background(), disk, req, &bytes.Buffer{}, &bytes.Buffer{})
	if got, want := <-seen, fmt.Sprintf("uid %d gid %d", DefaultUID, DefaultGID); got != want {
		t.Errorf("the hanging child's credentials, seen from the host: %q, want %q", got, want)
	}
	if !errors.Is(err, ErrChild) || !strings.Contains(err.Error(), "no answer within 5s") {
		t.Fatalf("hang: %v, want ErrChild after the timeout", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("hang took %v to end", d)
	}
	assertNothingLeft(t, c)
}

// childCreds waits until deadline for a process in a leaf of the cgroup
// parent and returns its real uid and gid, as "uid U gid G".
func childCreds(parent string, deadline time.Time) string {
	for time.Now().Before(deadline) {
		leaves, _ := filepath.Glob(filepath.Join(parent, idPrefix+"*", "cgroup.procs"))
		for _, l := range leaves {
			procs, _ := os.ReadFile(l)
			for _, pid := range strings.Fields(string(procs)) {
				st, err := os.ReadFile("/proc/" + pid + "/status")
				if err != nil {
					continue
				}
				var uid, gid string
				for _, line := range strings.Split(string(st), "\n") {
					if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
						uid = f[1]
					} else if len(f) > 1 && f[0] == "Gid:" {
						gid = f[1]
					}
				}
				// A cgo (-race) child is root until Enter drops it.
				if uid != "0" {
					return "uid " + uid + " gid " + gid
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "no jailed process seen"
}
