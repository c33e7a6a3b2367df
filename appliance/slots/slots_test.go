package slots

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		name            string
		slot            string
		gen, left, done int
		state, id       string
	}{
		{"ironvisor-1-a.efi", A, 1, -1, -1, "good", "ironvisor-1-a.efi"},
		{"ironvisor-2-b+3.efi", B, 2, 3, 0, "trial", "ironvisor-2-b.efi"},
		{"IRONVISOR-12-B+2-1.EFI", B, 12, 2, 1, "trial", "ironvisor-12-b.efi"},
		{"ironvisor-3-a+0-3.efi", A, 3, 0, 3, "bad", "ironvisor-3-a.efi"},
	} {
		e, err := ParseName(tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if e.Slot != tc.slot || e.Gen != tc.gen || e.TriesLeft != tc.left || e.TriesDone != tc.done || e.State() != tc.state || e.ID() != tc.id {
			t.Errorf("%s: %+v state %s id %s", tc.name, e, e.State(), e.ID())
		}
	}
	for _, bad := range []string{"", "ironvisor-a.efi", "ironvisor-1-c.efi", "ironvisor-0-a.efi", "ironvisor-1-a+.efi",
		"ironvisor-1-a+x.efi", "ironvisor-1-a+1-.efi", "linux.efi", "ironvisor-1-a.conf", "ironvisor--1-a.efi", "ironvisor-99999999999-a.efi"} {
		if _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted it", bad)
		}
	}
	if n := Name(B, 4, 3); n != "ironvisor-4-b+3.efi" {
		t.Errorf("Name = %s", n)
	}
}

// stub is systemd's EFI stub, which the UKIs in the tests are built on.
const stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// uki builds a UKI-shaped PE of version in dir: systemd's stub with
// .osrel and .linux sections added by objcopy (build/disk lays them out
// for booting; here only their presence matters).
func uki(t *testing.T, dir, version string) []byte {
	t.Helper()
	if _, err := os.Stat(stub); err != nil {
		t.Skipf("SKIP: %v (apt-get install systemd-boot-efi)", err)
	}
	kernel, osrel := filepath.Join(dir, "kernel"), filepath.Join(dir, "osrel-"+version)
	os.WriteFile(kernel, bytes.Repeat([]byte("K"), 5000), 0o644)
	os.WriteFile(osrel, []byte(OSRelease(version)), 0o644)
	out := filepath.Join(dir, "uki-"+version+".efi")
	cmd := exec.Command("objcopy", "--add-section", ".osrel="+osrel, "--add-section", ".linux="+kernel, stub, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestInstallBlessAssess(t *testing.T) {
	dir := t.TempDir()
	esp := ESP{Root: filepath.Join(dir, "esp")}
	v1, v2 := uki(t, dir, "1.0"), uki(t, dir, "2.0")
	os.MkdirAll(filepath.Join(esp.Root, Dir), 0o755)
	os.WriteFile(filepath.Join(esp.Root, Dir, Name(A, 1, -1)), v1, 0o644)

	// Refusals leave the slots alone.
	for what, f := range map[string]func() error{
		"bad sum":   func() error { _, err := esp.Install(bytes.NewReader(v2), sum(v1), 1<<30, A, 3); return err },
		"short sum": func() error { _, err := esp.Install(bytes.NewReader(v2), "abc", 1<<30, A, 3); return err },
		"too large": func() error { _, err := esp.Install(bytes.NewReader(v2), sum(v2), 100, A, 3); return err },
		"not a UKI": func() error {
			_, err := esp.Install(strings.NewReader("MZ junk"), sum([]byte("MZ junk")), 1<<30, A, 3)
			return err
		},
		"zero tries": func() error { _, err := esp.Install(bytes.NewReader(v2), sum(v2), 1<<30, A, 0); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
	list, err := esp.List()
	if err != nil || len(list) != 1 || list[0].Version != "1.0" || list[0].State() != "good" {
		t.Fatalf("after refusals: %+v, %v", list, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(esp.Root, Dir)); len(ents) != 1 {
		t.Errorf("a refusal left files: %v", ents)
	}

	en, err := esp.Install(bytes.NewReader(v2), strings.ToUpper(sum(v2)), 1<<30, A, 3)
	if err != nil {
		t.Fatal(err)
	}
	if en.File != "ironvisor-2-b+3.efi" || en.Version != "2.0" || en.Size != int64(len(v2)) {
		t.Errorf("installed %+v", en)
	}
	// The loader booted it once (renamed to +2-1) and it became healthy.
	os.Rename(filepath.Join(esp.Root, Dir, en.File), filepath.Join(esp.Root, Dir, "ironvisor-2-b+2-1.efi"))
	list, _ = esp.List()
	booted, _ := ParseName("ironvisor-2-b+2-1.efi")
	st, err := Assess(list, booted)
	if err != nil || !st.Trial || st.Failed != nil || st.Booted.Version != "2.0" {
		t.Fatalf("assess trial: %+v %v", st, err)
	}
	good, err := esp.Bless(st.Booted)
	if err != nil || good.File != "ironvisor-2-b.efi" {
		t.Fatalf("bless: %+v %v", good, err)
	}
	// The next install replaces slot a, the one that did not boot; it
	// fails its only try and the loader falls back to b.
	en, err = esp.Install(bytes.NewReader(v1), sum(v1), 1<<30, B, 1)
	if err != nil || en.File != "ironvisor-3-a+1.efi" {
		t.Fatalf("second install: %+v %v", en, err)
	}
	os.Rename(filepath.Join(esp.Root, Dir, en.File), filepath.Join(esp.Root, Dir, "ironvisor-3-a+0-1.efi"))
	list, _ = esp.List()
	if len(list) != 2 || list[0].Gen != 3 || list[1].File != "ironvisor-2-b.efi" {
		t.Fatalf("list: %+v", list)
	}
	booted, _ = ParseName("ironvisor-2-b.efi")
	st, err = Assess(list, booted)
	if err != nil || st.Trial || st.Failed == nil || st.Failed.Slot != A || st.Failed.Version != "1.0" {
		t.Fatalf("assess rollback: %+v %v", st, err)
	}
	if _, err := Assess(list, Entry{Slot: A, Gen: 9}); err == nil {
		t.Error("Assess found a slot that is not there")
	}
}

// efiVar encodes s as efivarfs shows a string variable.
func efiVar(s string) []byte {
	b := []byte{7, 0, 0, 0}
	for _, c := range utf16.Encode([]rune(s + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestBootedFromEFIVariables(t *testing.T) {
	dir := t.TempDir()
	if _, err := Booted(dir); err == nil {
		t.Error("no variables: no error")
	}
	os.WriteFile(filepath.Join(dir, VarEntrySelected+"-"+LoaderGUID), efiVar("ironvisor-1-a.efi"), 0o644)
	if e, err := Booted(dir); err != nil || e.Slot != A || e.Gen != 1 {
		t.Errorf("selected: %+v %v", e, err)
	}
	os.WriteFile(filepath.Join(dir, VarBootCountPath+"-"+LoaderGUID), efiVar(`\EFI\Linux\ironvisor-2-b+2-1.efi`), 0o644)
	if e, err := Booted(dir); err != nil || e.Slot != B || e.Gen != 2 || e.TriesLeft != 2 {
		t.Errorf("count path: %+v %v", e, err)
	}
	for _, bad := range [][]byte{nil, {1, 2}, {0, 0, 0, 0, 'a'}} {
		if _, err := DecodeEFIString(bad); err == nil {
			t.Errorf("DecodeEFIString(%v) accepted it", bad)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	kv := ParseOSRelease([]byte("# c\nPRETTY_NAME=\"Ironvisor 1\"\nIMAGE_VERSION='1.2'\nbad line\n=x\nID=iv\n\x00\x00junk=1"))
	if kv["PRETTY_NAME"] != "Ironvisor 1" || kv["IMAGE_VERSION"] != "1.2" || kv["ID"] != "iv" || len(kv) != 3 {
		t.Errorf("kv = %v", kv)
	}
	if kv := ParseOSRelease([]byte(OSRelease("v9"))); kv["IMAGE_VERSION"] != "v9" || kv["ID"] != "" || kv["IMAGE_ID"] != "" {
		t.Errorf("OSRelease: %v", kv)
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"ironvisor-1-a.efi", "ironvisor-2-b+3-1.efi", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseName(s)
		if err != nil {
			return
		}
		again, err := ParseName(e.ID())
		if err != nil || again.Slot != e.Slot || again.Gen != e.Gen {
			t.Fatalf("%q: ID %q does not parse back: %+v %v", s, e.ID(), again, err)
		}
	})
}

func FuzzEFIAndOSRelease(f *testing.F) {
	f.Add(efiVar(`\EFI\Linux\ironvisor-2-b+2-1.efi`))
	f.Add([]byte("PRETTY_NAME=\"x\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeEFIString(b)
		ParseOSRelease(b)
	})
}
