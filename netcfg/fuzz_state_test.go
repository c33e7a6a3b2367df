package netcfg

import (
	"encoding/json"
	"testing"
)

// FuzzValidateState feeds arbitrary JSON, as an API client could send it,
// through State validation and the derived names and marks.
func FuzzValidateState(f *testing.F) {
	st := testState()
	b, _ := json.Marshal(st)
	f.Add(b)
	f.Add([]byte(`{"networks":[{"name":"x","tenant":"t","index":32767,"cidr":"10.0.0.0/16"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st State
		if json.Unmarshal(b, &st) != nil {
			return
		}
		ix, err := st.index()
		if err != nil {
			return
		}
		for _, c := range st.NICs {
			n := ix.nets[c.Network]
			if name := c.tapName(n); len(name) > 15 {
				t.Fatalf("interface name %q too long", name)
			}
			m := c.Mark(n)
			if got, err := nicByMark(st, m); err != nil || got.Instance != c.Instance || got.Network != c.Network {
				t.Fatalf("mark %#x maps to %v, %v", m, got, err)
			}
		}
		if _, err := fingerprint(&st, nil); err != nil {
			t.Fatal(err)
		}
	})
}
