package initramfs

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// elfWithSections returns a minimal ELF64 little-endian relocatable file
// with the named sections, and a PT_INTERP program header when interp is
// set. Layout per the System V gABI, chapter 4 (ELF header, section header
// table, string table).
func elfWithSections(sections map[string][]byte, interp bool) []byte {
	names := []string{}
	for n := range sections {
		names = append(names, n)
	}
	// Deterministic order.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	shstr := []byte{0}
	nameOff := map[string]uint32{}
	for _, n := range append(names, ".shstrtab") {
		nameOff[n] = uint32(len(shstr))
		shstr = append(append(shstr, n...), 0)
	}
	var body bytes.Buffer
	const ehsize, phsize, shsize = 64, 56, 64
	nph := 0
	if interp {
		nph = 1
	}
	dataStart := ehsize + nph*phsize
	offsets := map[string]int{}
	body.Write(make([]byte, dataStart))
	for _, n := range names {
		offsets[n] = body.Len()
		body.Write(sections[n])
	}
	offsets[".shstrtab"] = body.Len()
	body.Write(shstr)
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := body.Len()
	le := binary.LittleEndian
	sh := make([]byte, shsize) // null section
	body.Write(sh)
	for _, n := range append(names, ".shstrtab") {
		sh := make([]byte, shsize)
		le.PutUint32(sh[0:], nameOff[n])
		typ := uint32(1) // SHT_PROGBITS
		size := 0
		if n == ".shstrtab" {
			typ, size = 3, len(shstr) // SHT_STRTAB
		} else {
			size = len(sections[n])
		}
		le.PutUint32(sh[4:], typ)
		le.PutUint64(sh[24:], uint64(offsets[n]))
		le.PutUint64(sh[32:], uint64(size))
		le.PutUint64(sh[48:], 1)
		body.Write(sh)
	}
	out := body.Bytes()
	copy(out, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(out[16:], 1)  // ET_REL
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	if interp {
		le.PutUint64(out[32:], ehsize)
		le.PutUint32(out[ehsize:], 3) // PT_INTERP
	}
	le.PutUint64(out[40:], uint64(shoff))
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[54:], phsize)
	le.PutUint16(out[56:], uint16(nph))
	le.PutUint16(out[58:], shsize)
	le.PutUint16(out[60:], uint16(len(names)+2))
	le.PutUint16(out[62:], uint16(len(names)+1))
	return out
}

// fakeModule writes dir/rel as an ELF module with the given modinfo.
func fakeModule(t *testing.T, dir, rel string, modinfo ...string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	if err := os.WriteFile(p, elfWithSections(map[string][]byte{".modinfo": info}, false), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeModulesDir builds a small /lib/modules/RELEASE tree:
// kvm-amd -> kvm -> irqbypass; bridge -> stp -> llc; ext4 softdep crc.
func fakeModulesDir(t *testing.T) string {
	dir := t.TempDir()
	fakeModule(t, dir, "kernel/arch/x86/kvm/kvm-amd.ko", "name=kvm_amd", "depends=kvm")
	fakeModule(t, dir, "kernel/arch/x86/kvm/kvm.ko", "name=kvm", "depends=irqbypass")
	fakeModule(t, dir, "kernel/virt/lib/irqbypass.ko", "name=irqbypass", "depends=")
	fakeModule(t, dir, "kernel/net/bridge/bridge.ko", "license=GPL", "name=bridge", "depends=llc,stp")
	fakeModule(t, dir, "kernel/net/802/stp.ko", "name=stp", "depends=llc")
	fakeModule(t, dir, "kernel/net/llc/llc.ko", "name=llc", "depends=")
	fakeModule(t, dir, "kernel/fs/ext4/ext4.ko", "name=ext4", "softdep=pre: crc32c post: nothing")
	fakeModule(t, dir, "kernel/crypto/crc32c.ko", "name=crc32c")
	fakeModule(t, dir, "kernel/drivers/unused.ko", "name=unused")
	builtin := "kernel/drivers/net/tun.ko\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(builtin), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestResolveModulesClosure(t *testing.T) {
	dir := fakeModulesDir(t)
	set, err := ResolveModules(dir, []string{"kvm-amd", "bridge", "tun", "ext4", "no_such_driver", "no-such-driver"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range set.Modules {
		names = append(names, m.Name)
	}
	want := []string{"kvm_amd", "kvm", "crc32c", "ext4", "stp", "bridge", "llc", "irqbypass"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("modules = %v, want %v (sorted by path)", names, want)
	}
	if !reflect.DeepEqual(set.Missing, []string{"no_such_driver"}) {
		t.Errorf("missing = %v, want [no_such_driver]", set.Missing)
	}
	if !reflect.DeepEqual(set.Builtin, []string{"tun"}) {
		t.Errorf("builtin = %v, want [tun]", set.Builtin)
	}
	dep := string(set.DepFile())
	for _, line := range []string{
		"kernel/arch/x86/kvm/kvm-amd.ko: kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko\n",
		// bridge needs stp and llc, stp needs llc: llc loads first, so
		// it comes last.
		"kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\n",
		"kernel/net/llc/llc.ko:\n",
	} {
		if !strings.Contains(dep, line) {
			t.Errorf("modules.dep lacks %q:\n%s", line, dep)
		}
	}
	if strings.Contains(dep, "unused") {
		t.Errorf("modules.dep lists an unrequested module:\n%s", dep)
	}
}

func TestResolveModulesMissingDependencyFails(t *testing.T) {
	dir := t.TempDir()
	fakeModule(t, dir, "kernel/a.ko", "name=a", "depends=b")
	if _, err := ResolveModules(dir, []string{"a"}); err == nil {
		t.Fatal("a module with a missing hard dependency resolved")
	}
}

func TestParseModInfo(t *testing.T) {
	mi, err := ParseModInfo([]byte("license=GPL\x00depends=kvm,ccp\x00name=kvm-amd\x00softdep=pre: a b post: c\x00junk\x00"))
	if err != nil {
		t.Fatal(err)
	}
	want := ModInfo{Name: "kvm_amd", Depends: []string{"kvm", "ccp"}, SoftPre: []string{"a", "b"}}
	if !reflect.DeepEqual(mi, want) {
		t.Errorf("got %+v, want %+v", mi, want)
	}
	if _, err := ParseModInfo([]byte("depends=x\x00")); err == nil {
		t.Error("modinfo without a name parsed")
	}
}

func FuzzParseModInfo(f *testing.F) {
	f.Add([]byte("name=a\x00depends=b,c\x00softdep=pre: d post: e\x00"))
	f.Add([]byte{0, 0, '='})
	f.Fuzz(func(t *testing.T, b []byte) {
		mi, err := ParseModInfo(b)
		if err == nil && mi.Name == "" {
			t.Fatal("success without a name")
		}
	})
}

func TestApplianceImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ironvisor")
	if err := os.WriteFile(bin, elfWithSections(map[string][]byte{".text": {0xc3}}, false), 0o755); err != nil {
		t.Fatal(err)
	}
	mods := fakeModulesDir(t)
	b, set, err := Appliance(ApplianceOptions{Binary: bin, KernelRelease: "6.1.0-test", ModulesDir: mods, Modules: []string{"kvm_amd"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Modules) != 3 {
		t.Errorf("modules = %+v, want kvm_amd, kvm, irqbypass", set.Modules)
	}
	var buf bytes.Buffer
	if err := b.Write(&buf, Gzip); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Entry{}
	for _, e := range got {
		byPath[e.Path] = e
	}
	for _, p := range []string{"/init", "/dev/console", "/proc", "/sys", "/run", "/tmp", "/etc/hostname",
		"/lib/modules/6.1.0-test/modules.dep", "/lib/modules/6.1.0-test/modules.builtin",
		"/lib/modules/6.1.0-test/kernel/arch/x86/kvm/kvm-amd.ko"} {
		if _, ok := byPath[p]; !ok {
			t.Errorf("image lacks %s", p)
		}
	}
	if e := byPath["/init"]; e.Perm != 0o755 || e.Kind != KindFile {
		t.Errorf("/init = %+v, want an executable file", e)
	}
	if e := byPath["/bin/ironvisor"]; e.Kind != KindSymlink || e.Target != "/init" {
		t.Errorf("/bin/ironvisor = %+v, want a symlink to /init", e)
	}
}

func TestApplianceRejectsDynamicBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ironvisor")
	if err := os.WriteFile(bin, elfWithSections(map[string][]byte{".text": {0xc3}}, true), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Appliance(ApplianceOptions{Binary: bin}); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("err = %v, want a dynamically-linked error", err)
	}
}
