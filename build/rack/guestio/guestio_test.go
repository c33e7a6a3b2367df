package guestio

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFillPatternAndRandReadVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	const bs, blocks = 4096, 64
	if err := FillPattern(path, bs*blocks, bs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != bs*blocks {
		t.Fatalf("file has %d bytes, want %d", len(b), bs*blocks)
	}
	for i := range blocks {
		if got := binary.LittleEndian.Uint64(b[i*bs:]); got != uint64(i) {
			t.Fatalf("block %d starts with %d", i, got)
		}
	}
	r, err := RandRead(ReadOptions{Path: path, Depth: 16, BlockSize: bs, For: 100 * time.Millisecond, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reads == 0 || r.IOPS() <= 0 || r.Elapsed < 100*time.Millisecond {
		t.Fatalf("result %+v", r)
	}

	// A block with the wrong index fails the run: every block but the
	// first is wrong, so that a short run hits one.
	for i := 1; i < blocks; i++ {
		binary.LittleEndian.PutUint64(b[i*bs:], 1<<40)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RandRead(ReadOptions{Path: path, Depth: 4, BlockSize: bs, For: time.Second, Verify: true}); err == nil {
		t.Fatal("a corrupt block passed verification")
	}
}

func TestRandReadDirect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk")
	if err := FillPattern(path, 1<<20, 4096); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Skipf("SKIP: %s refuses O_DIRECT: %v", filepath.Dir(path), err)
	}
	unix.Close(fd)
	r, err := RandRead(ReadOptions{Path: path, Depth: 16, BlockSize: 4096, For: 50 * time.Millisecond, Direct: true, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reads == 0 {
		t.Fatal("no read")
	}
}

func TestRandReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := RandRead(ReadOptions{Path: filepath.Join(dir, "none"), Depth: 1, BlockSize: 4096, For: time.Millisecond}); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("missing file: %v", err)
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RandRead(ReadOptions{Path: small, Depth: 1, BlockSize: 4096, For: time.Millisecond}); err == nil {
		t.Fatal("a file smaller than a block was read")
	}
	for _, o := range []ReadOptions{
		{Path: small, Depth: 0, BlockSize: 4096, For: time.Second},
		{Path: small, Depth: 1, BlockSize: 4, For: time.Second},
		{Path: small, Depth: 1, BlockSize: 4096},
	} {
		if _, err := RandRead(o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
	if err := FillPattern(small, 4097, 4096); err == nil {
		t.Fatal("FillPattern accepted a partial block")
	}
}

func TestPercentile(t *testing.T) {
	if Percentile(nil, 50) != 0 {
		t.Fatal("empty")
	}
	v := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 3}, {99, 5}, {100, 5}, {1, 1}, {20, 1}, {40, 2}} {
		if got := Percentile(append([]time.Duration(nil), v...), c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}

// peer starts Serve on a loopback listener.
func peer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestSendReceivePingPong(t *testing.T) {
	addr := peer(t)
	tx, err := Send(addr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Bytes < chunk || tx.Bytes%chunk != 0 || tx.MBps() <= 0 {
		t.Fatalf("send: %+v", tx)
	}
	rx, err := Receive(addr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rx.Bytes < chunk || rx.Elapsed < 100*time.Millisecond {
		t.Fatalf("receive: %+v", rx)
	}
	rtts, err := PingPong(addr, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(rtts) < 10 || Percentile(rtts, 50) <= 0 {
		t.Fatalf("%d round trips, p50 %v", len(rtts), Percentile(rtts, 50))
	}
}

func TestPeerRefusesBadRequests(t *testing.T) {
	addr := peer(t)
	for _, req := range [][]byte{
		{'X'},
		append([]byte{modeSource}, make([]byte, 8)...),                    // zero time
		append([]byte{modeSource}, 0x7f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0), // hours
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// The peer closes without sending anything.
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || err == nil {
			t.Fatalf("request %x: read %d bytes, %v", req, n, err)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("request %x: peer kept the connection open", req)
		}
	}
}

func TestSendToNowhere(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Send(addr, time.Millisecond); err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if _, err := PingPong(addr, time.Millisecond); err == nil {
		t.Fatal("ping-pong to a closed port succeeded")
	}
}
