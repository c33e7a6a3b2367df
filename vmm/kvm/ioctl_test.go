package kvm

import "testing"

// TestIoctlNumbers pins computed request numbers to the values in the
// kernel's include/uapi/linux/kvm.h.
func TestIoctlNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", reqGetAPIVersion, 0xAE00},
		{"KVM_CREATE_VM", reqCreateVM, 0xAE01},
		{"KVM_CHECK_EXTENSION", reqCheckExtension, 0xAE03},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

func TestDetectKind(t *testing.T) {
	dir := t.TempDir()
	if k := DetectKind(dir); k != KindNone {
		t.Fatalf("empty sysfs: kind %s, want none", k)
	}
	mk := func(m string) {
		if err := mkdirAll(dir + "/module/" + m); err != nil {
			t.Fatal(err)
		}
	}
	mk("kvm_amd")
	if k := DetectKind(dir); k != KindSVM {
		t.Fatalf("kvm_amd: kind %s, want SVM", k)
	}
	mk("kvm_pvm")
	if k := DetectKind(dir); k != KindPVM {
		t.Fatalf("kvm_pvm+kvm_amd: kind %s, want PVM", k)
	}
}
