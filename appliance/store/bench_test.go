package store

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkDurablePut measures one acknowledged (fsync'd) single-record
// transaction.
func BenchmarkDurablePut(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "s.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	i := 0
	for b.Loop() {
		if err := db.PutOne(Instances, fmt.Sprintf("i-%08d", i), rec{ID: "x", N: i}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
