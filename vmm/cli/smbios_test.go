package cli

import (
	"strings"
	"testing"
)

func TestSMBIOSFlags(t *testing.T) {
	f, err := parseVMMFlags([]string{"--kernel", "k", "--smbios-uuid", "0f2c1e3a-4b5c-4d6e-8f70-8192a3b4c5d6",
		"--smbios-serial", "i-0abc", "--smbios-asset-tag", "ironvisor", "--smbios-product", "Ironvisor VM"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := smbiosInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if info.Serial != "i-0abc" || info.AssetTag != "ironvisor" || info.Product != "Ironvisor VM" || info.UUID[0] != 0x0f || info.UUID[15] != 0xd6 {
		t.Errorf("info %+v", info)
	}
	for _, bad := range [][]string{
		{"--smbios-uuid", "not-a-uuid"},
		{"--smbios-serial", "line\nbreak"},
		{"--smbios-asset-tag", strings.Repeat("x", 300)},
	} {
		f, err := parseVMMFlags(append([]string{"--kernel", "k"}, bad...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := smbiosInfo(f); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
