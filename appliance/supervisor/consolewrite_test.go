package supervisor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/control"
)

// typingVM records serial input, taking at most room bytes.
type typingVM struct {
	countingVM
	room int
	mu   sync.Mutex
	got  []byte // guarded by mu
}

func (v *typingVM) ConsoleInput(p []byte) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := min(len(p), v.room-len(v.got))
	v.got = append(v.got, p[:n]...)
	return n
}

// TestConsoleWriteThroughTheControlSocket: input longer than one control
// request arrives whole and in order; what the UART could not take is
// reported; an instance without a VMM is ErrNotRunning.
func TestConsoleWriteThroughTheControlSocket(t *testing.T) {
	s, _, _ := newSup(t, "", nil)
	const id = "i-type"
	if err := os.MkdirAll(s.opt.instDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := control.Listen(s.opt.socket(id))
	if err != nil {
		t.Fatal(err)
	}
	vm := &typingVM{room: control.MaxInput + 100}
	srv := control.NewServer(vm)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	s.mu.Lock()
	s.live[id] = &instance{id: id, done: make(chan struct{})}
	s.mu.Unlock()

	in := bytes.Repeat([]byte("ab"), control.MaxInput/2+60) // 2 requests, 20 bytes too many
	n, err := s.ConsoleWrite(context.Background(), id, in)
	if err != nil || n != vm.room {
		t.Fatalf("ConsoleWrite = %d, %v; want %d", n, err, vm.room)
	}
	vm.mu.Lock()
	got := vm.got
	vm.mu.Unlock()
	if !bytes.Equal(got, in[:vm.room]) {
		t.Fatal("the guest got other bytes than were typed")
	}
	if _, err := s.ConsoleWrite(context.Background(), "i-other", []byte("x")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("instance without a VMM: %v, want ErrNotRunning", err)
	}
	if _, err := s.ConsoleWrite(context.Background(), "../etc", []byte("x")); err == nil {
		t.Fatal("invalid id accepted")
	}
}
