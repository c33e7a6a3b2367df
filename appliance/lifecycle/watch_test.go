package lifecycle

import (
	"context"
	"testing"
)

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestWatchWakesOnlyItsInstance: a committed write of an instance closes
// the channels of its waiters and no other's; a refused event writes
// nothing and wakes nobody; the map forgets an instance once its last
// waiter releases it.
func TestWatchWakesOnlyItsInstance(t *testing.T) {
	f := newFixture(t, bigHost)
	insts := f.launch(t, "nano", 2)
	a, b := insts[0].ID, insts[1].ID
	chA, relA := f.m.Watch(a)
	chA2, relA2 := f.m.Watch(a)
	chB, relB := f.m.Watch(b)
	if _, err := f.m.Apply(context.Background(), a, Start, Change{}); err != nil {
		t.Fatal(err) // pending to pending: accepted, but no write
	}
	if _, err := f.m.Apply(context.Background(), a, Halted, Change{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Apply(context.Background(), b, Resize, Change{}); err == nil {
		t.Fatal("resize of a pending instance accepted")
	}
	if !closed(chA) || !closed(chA2) {
		t.Fatal("a's waiters not woken by its halt")
	}
	if closed(chB) {
		t.Fatal("b's waiter woken by a's write or by a refused event")
	}
	if _, ok, err := f.m.Annotate(context.Background(), b, Pending, "launched", "slow"); err != nil || !ok {
		t.Fatalf("annotate: %v %v", ok, err)
	}
	if !closed(chB) {
		t.Fatal("b's waiter not woken by a new reason")
	}
	relA()
	relA2()
	relB()
	// A watch released unwoken leaves no entry behind.
	_, rel := f.m.Watch("i-none")
	rel()
	f.m.watchMu.Lock()
	n := len(f.m.watches)
	f.m.watchMu.Unlock()
	if n != 0 {
		t.Fatalf("%d watches left after every waiter released", n)
	}
}
