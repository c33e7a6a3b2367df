package vm

import (
	"testing"
	"time"
)

// TestEventFD: a trigger wakes a waiter (as KVM's ioeventfd write would),
// and closing wakes a blocked waiter with an error, which is how the kick
// goroutines end.
func TestEventFD(t *testing.T) {
	e, err := newEventFD()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Trigger(); err != nil {
		t.Fatal(err)
	}
	if err := e.wait(); err != nil {
		t.Fatalf("wait after trigger: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.wait() }()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("wait returned nil after close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not wake the waiter")
	}
	if e.fd() < 3 {
		t.Fatalf("fd %d", e.fd())
	}
}
