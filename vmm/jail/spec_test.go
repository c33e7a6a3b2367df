package jail

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestValidateRejectsBadSpecs(t *testing.T) {
	good := Spec{ID: "vm-1", UID: 1000, GID: 1000}
	if _, err := good.validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	bad := map[string]func(*Spec){
		"empty id":        func(s *Spec) { s.ID = "" },
		"slash in id":     func(s *Spec) { s.ID = "../etc" },
		"long id":         func(s *Spec) { s.ID = strings.Repeat("a", 65) },
		"root uid":        func(s *Spec) { s.UID = 0 },
		"root gid":        func(s *Spec) { s.GID = 0 },
		"negative memory": func(s *Spec) { s.MemoryMax = -1 },
		"negative cpus":   func(s *Spec) { s.CPUs = -1 },
		"relative device": func(s *Spec) { s.Devices = []string{"dev/null"} },
		"dotdot device":   func(s *Spec) { s.Devices = []string{"/dev/../etc/shadow"} },
	}
	for name, mutate := range bad {
		s := good
		mutate(&s)
		if _, err := s.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := Start(s); err == nil {
			t.Errorf("%s: Start accepted", name)
		}
	}
}

func TestFileNumbering(t *testing.T) {
	f := func(name string) *os.File {
		file, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { file.Close() })
		return os.NewFile(file.Fd(), name)
	}
	files := Files{KVM: f("kvm"), Console: f("console"), Disks: []*os.File{f("d0"), f("d1")}, Taps: []*os.File{f("t0")}}
	extra := files.extra()
	want := map[int]string{FDKVM: "kvm", FDConsole: "console", FDDisk0: "d0", FDDisk0 + 1: "d1", files.TapFD(0): "t0"}
	for fd, name := range want {
		if got := extra[fd-3]; got == nil || got.Name() != name {
			t.Errorf("fd %d carries %v, want %s", fd, got, name)
		}
	}
	if extra[FDControl-3] != nil || extra[FDKernel-3] != nil || extra[FDInitrd-3] != nil {
		t.Error("absent files must stay nil")
	}
	child := layoutOf(files).files()
	if child.KVM == nil || child.Control != nil || len(child.Disks) != 2 || len(child.Taps) != 1 ||
		int(child.Taps[0].Fd()) != files.TapFD(0) || int(child.Disks[1].Fd()) != files.DiskFD(1) {
		t.Errorf("child files %+v do not match the numbering", child)
	}
}

func TestMemoryBudget(t *testing.T) {
	if got := MemoryBudget(256 << 20); got != 256<<20+OverheadBase+4<<20 {
		t.Errorf("MemoryBudget(256 MiB) = %d", got)
	}
}

func TestOpenFileFD(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := OpenFile(FDArg(int(f.Fd())), os.O_RDONLY, 0)
	if err != nil || g.Fd() != f.Fd() {
		t.Fatalf("OpenFile(%s) = %v, %v", FDArg(int(f.Fd())), g, err)
	}
	for _, bad := range []string{"fd:", "fd:x", "fd:1", "fd:-3", "fd:99999"} {
		if _, err := OpenFile(bad, os.O_RDONLY, 0); err == nil {
			t.Errorf("OpenFile(%q) succeeded", bad)
		}
	}
	p, err := OpenFile(os.DevNull, os.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("OpenFile(path): %v", err)
	}
	p.Close()
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/x\134y`: `/x\y`, `/end\04`: `/end\04`, `/plain`: "/plain", `\777`: `\777`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestValidID checks ValidID against the pattern it implements by hand,
// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$, on edge cases and every string of up
// to two bytes from an alphabet that covers each class.
func TestValidID(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	cases := []string{"", "i-0123abcd", "a", "-a", ".a", "_a", "a/b", "..", "a b", "é", "a\x00", "A.b_c-d",
		strings.Repeat("a", 64), strings.Repeat("a", 65)}
	alphabet := "aZ09_.-/ \x00\xff"
	for _, a := range alphabet {
		cases = append(cases, string(a))
		for _, b := range alphabet {
			cases = append(cases, string(a)+string(b))
		}
	}
	for _, c := range cases {
		if got, want := ValidID(c), re.MatchString(c); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", c, got, want)
		}
	}
}
