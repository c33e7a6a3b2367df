package types

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/store"
)

func TestBuiltinTable(t *testing.T) {
	b := Builtin()
	if b[0] != (Type{Name: "nano", VCPUs: 1, MemBytes: 64 * MiB, Builtin: true}) {
		t.Fatalf("first type = %+v, want nano 1 vCPU 64 MiB", b[0])
	}
	seen := map[string]bool{}
	for i, ty := range b {
		if err := Validate(ty); err != nil {
			t.Errorf("builtin %v: %v", ty, err)
		}
		if seen[ty.Name] {
			t.Errorf("duplicate builtin %q", ty.Name)
		}
		seen[ty.Name] = true
		if i > 0 && (ty.VCPUs < b[i-1].VCPUs || ty.MemBytes <= b[i-1].MemBytes) {
			t.Errorf("%v is not larger than %v", ty, b[i-1])
		}
	}
	for _, name := range []string{"micro", "small", "medium", "large", "xlarge", "2xlarge"} {
		if !seen[name] {
			t.Errorf("builtin %q missing", name)
		}
	}
	if last := b[len(b)-1]; last.VCPUs < 128 || last.MemBytes < 128*GiB {
		t.Errorf("largest type %v cannot fill a big host", last)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		ty Type
		ok bool
	}{
		{Type{Name: "tiny", VCPUs: 1, MemBytes: 32 * MiB}, true},
		{Type{Name: "c5.big-1", VCPUs: 3, MemBytes: 3 * GiB}, true},
		{Type{Name: "", VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: "a/b", VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: "a..b", VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: ".a", VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: "Big", VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: strings.Repeat("a", 65), VCPUs: 1, MemBytes: 64 * MiB}, false},
		{Type{Name: "x", VCPUs: 0, MemBytes: 64 * MiB}, false},
		{Type{Name: "x", VCPUs: -1, MemBytes: 64 * MiB}, false},
		{Type{Name: "x", VCPUs: MaxVCPUs + 1, MemBytes: 64 * MiB}, false},
		{Type{Name: "x", VCPUs: 1, MemBytes: 64*MiB + 1}, false},
		{Type{Name: "x", VCPUs: 1, MemBytes: 8 * MiB}, false},
		{Type{Name: "x", VCPUs: 1, MemBytes: MaxMemBytes + MiB}, false},
	}
	for _, c := range cases {
		err := Validate(c.ty)
		if (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", c.ty, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, not ErrInvalid", c.ty, err)
		}
	}
}

func TestFits(t *testing.T) {
	nano, _ := LookupBuiltin("nano")
	small, _ := LookupBuiltin("small")
	medium, _ := LookupBuiltin("medium")
	host := Host{CPUs: 2, MemBytes: 2 * GiB}
	cases := []struct {
		name     string
		host     Host
		running  []Type
		want     Type
		count    int
		resource string // "" = fits
	}{
		{"empty host, exact fill", host, nil, medium, 1, ""},
		{"too many vcpus", host, nil, small, 3, "vcpu"},
		{"overcommit 4x allows 8", Host{CPUs: 2, MemBytes: 2 * GiB, Overcommit: 4}, nil, nano, 8, ""},
		{"overcommit 4x refuses 9", Host{CPUs: 2, MemBytes: 2 * GiB, Overcommit: 4}, nil, nano, 9, "vcpu"},
		{"memory runs out first", Host{CPUs: 2, MemBytes: 2 * GiB, Overcommit: 10}, []Type{medium}, small, 3, "memory"},
		{"memory exactly fills", Host{CPUs: 2, MemBytes: 2 * GiB, Overcommit: 10}, []Type{medium}, small, 2, ""},
		{"running already over budget", host, []Type{medium, medium}, nano, 1, "vcpu"},
		{"huge count does not overflow", Host{CPUs: 1 << 20, MemBytes: 1 << 50}, nil, nano, 1 << 62, "vcpu"},
	}
	for _, c := range cases {
		err := Fits(c.host, c.running, c.want, c.count)
		if c.resource == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ic *InsufficientCapacity
		if !errors.As(err, &ic) || ic.Resource != c.resource || !errors.Is(err, ErrInsufficientCapacity) {
			t.Errorf("%s: err = %v, want InsufficientCapacity on %s", c.name, err, c.resource)
		}
	}
}

func TestFitsMessage(t *testing.T) {
	small, _ := LookupBuiltin("small")
	medium, _ := LookupBuiltin("medium")
	err := Fits(Host{CPUs: 8, MemBytes: 2 * GiB}, []Type{medium}, small, 3)
	want := "InsufficientCapacity: 3 × small (1 vCPU, 512 MiB) needs 1.5 GiB of memory, but only 1 GiB of 2 GiB is free (1 GiB in use)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	err = Fits(Host{CPUs: 2, MemBytes: 8 * GiB}, []Type{medium}, small, 1)
	want = "InsufficientCapacity: 1 × small (1 vCPU, 512 MiB) needs 1 vCPU, but only 0 of 2 are free (2 in use)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if err := Fits(Host{CPUs: 2, MemBytes: GiB}, nil, small, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("count 0: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCatalog(db)
	if _, err := c.Add(Type{Name: "tiny", VCPUs: 1, MemBytes: 32 * MiB}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(Type{Name: "tiny", VCPUs: 1, MemBytes: 32 * MiB}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if _, err := c.Add(Type{Name: "nano", VCPUs: 1, MemBytes: 32 * MiB}); !errors.Is(err, ErrExists) {
		t.Fatalf("shadowing a builtin: %v", err)
	}
	if _, err := c.Add(Type{Name: "bad", VCPUs: 0, MemBytes: 32 * MiB}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid add: %v", err)
	}
	db.Close()
	db, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c = NewCatalog(db)
	list, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(Builtin())+1 || list[0].Name != "tiny" || list[0].Builtin {
		t.Fatalf("list after reopen = %v", list)
	}
	if got, err := c.Get("small"); err != nil || !got.Builtin {
		t.Fatalf("get small = %v, %v", got, err)
	}
	if err := c.Delete("nano"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete builtin: %v", err)
	}
	if err := c.Delete("tiny"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("tiny"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
}

func TestDecodeType(t *testing.T) {
	cases := []struct {
		body string
		want Type
		ok   bool
	}{
		{`{"name":"tiny","vcpus":1,"mem_mib":32}`, Type{Name: "tiny", VCPUs: 1, MemBytes: 32 * MiB}, true},
		{`{"name":"tiny","vcpus":2,"mem_bytes":67108864}`, Type{Name: "tiny", VCPUs: 2, MemBytes: 64 * MiB}, true},
		{`{"name":"tiny","vcpus":1,"mem_mib":32,"mem_bytes":33554432}`, Type{}, false},
		{`{"name":"tiny","vcpus":1}`, Type{}, false},
		{`{"name":"tiny","vcpus":-1,"mem_mib":32}`, Type{}, false},
		{`{"name":"tiny","vcpus":1,"mem_mib":-32}`, Type{}, false},
		{`{"name":"tiny","vcpus":1,"mem_mib":18446744073709551615}`, Type{}, false},
		{`{"name":"../x","vcpus":1,"mem_mib":32}`, Type{}, false},
		{`{"name":"tiny","vcpus":1,"mem_mib":32,"builtin":true}`, Type{}, false},
		{`{"name":"tiny","vcpus":1,"mem_mib":32} {}`, Type{}, false},
		{`{"name":"tiny","vcpus":1,"mem_mib":32,"pad":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, Type{}, false},
	}
	for _, c := range cases {
		got, err := DecodeType([]byte(c.body))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("DecodeType(%.60s) = %+v, %v; want %+v ok=%v", c.body, got, err, c.want, c.ok)
		}
	}
}

func FuzzDecodeType(f *testing.F) {
	f.Add([]byte(`{"name":"tiny","vcpus":1,"mem_mib":32}`))
	f.Add([]byte(`{"name":"x","vcpus":1024,"mem_bytes":17592186044416}`))
	f.Add([]byte(`{"name":"a/..","vcpus":-5,"mem_mib":1e30}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ty, err := DecodeType(body)
		if err != nil {
			return
		}
		if Validate(ty) != nil || ty.Builtin {
			t.Fatalf("DecodeType accepted an invalid type %+v", ty)
		}
		// Anything accepted must be usable in a capacity check without
		// panicking.
		_ = Fits(Host{CPUs: 2, MemBytes: GiB}, []Type{ty}, ty, 1<<40)
	})
}

func TestAvailable(t *testing.T) {
	// This machine's shape: 2 CPUs, 24 GiB, with 4x vCPU overcommit.
	got := Available(Builtin(), Host{CPUs: 2, MemBytes: 24 * GiB, Overcommit: 4})
	var names []string
	for _, ty := range got {
		names = append(names, ty.Name)
	}
	want := "nano micro small medium large xlarge 2xlarge"
	if strings.Join(names, " ") != want {
		t.Fatalf("available = %v, want %s", names, want)
	}
}
