package guestio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The first byte of a connection to the peer picks its test.
const (
	modeSink   = 'S' // the peer reads to EOF, then writes the byte count
	modeSource = 'R' // the peer writes for the duration that follows
	modeEcho   = 'E' // the peer echoes every byte
)

// chunk is the size of each bulk write.
const chunk = 128 << 10

// maxSourceTime bounds what a client may ask the source to send for.
const maxSourceTime = 10 * time.Minute

// Serve runs the peer on ln until ln is closed: each connection names its
// test in its first byte (sink, source or echo) and is served in its own
// goroutine. It returns the listener's error (net.ErrClosed once closed).
func Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = serveConn(c)
		}()
	}
}

// serveConn serves one peer connection.
func serveConn(c net.Conn) error {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return err
	}
	switch mode[0] {
	case modeSink:
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			return err
		}
		return binary.Write(c, binary.BigEndian, uint64(n))
	case modeSource:
		var ns uint64
		if err := binary.Read(c, binary.BigEndian, &ns); err != nil {
			return err
		}
		d := time.Duration(ns)
		if d <= 0 || d > maxSourceTime {
			return fmt.Errorf("guestio: source time %v out of range", d)
		}
		buf := make([]byte, chunk)
		for end := time.Now().Add(d); time.Now().Before(end); {
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
		return nil
	case modeEcho:
		_, err := io.Copy(c, c)
		return err
	}
	return fmt.Errorf("guestio: unknown mode %q", mode[0])
}

// Transfer is one bulk transfer.
type Transfer struct {
	Bytes   int64
	Elapsed time.Duration
}

// MBps returns the throughput in 10^6 bytes per second.
func (t Transfer) MBps() float64 { return float64(t.Bytes) / t.Elapsed.Seconds() / 1e6 }

// dial connects to the peer at addr and sends the mode byte.
func dial(addr string, mode byte) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("guestio: %w", err)
	}
	tc := c.(*net.TCPConn)
	if _, err := tc.Write([]byte{mode}); err != nil {
		tc.Close()
		return nil, fmt.Errorf("guestio: %w", err)
	}
	return tc, nil
}

// Send writes to the peer's sink at addr for d and returns the bytes the
// peer counted and the time from the first write to the peer's count
// (which arrives once the peer has read everything).
func Send(addr string, d time.Duration) (Transfer, error) {
	c, err := dial(addr, modeSink)
	if err != nil {
		return Transfer{}, err
	}
	defer c.Close()
	buf := make([]byte, chunk)
	start := time.Now()
	for end := start.Add(d); time.Now().Before(end); {
		if _, err := c.Write(buf); err != nil {
			return Transfer{}, fmt.Errorf("guestio: send: %w", err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		return Transfer{}, fmt.Errorf("guestio: send: %w", err)
	}
	var n uint64
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		return Transfer{}, fmt.Errorf("guestio: send: peer count: %w", err)
	}
	return Transfer{Bytes: int64(n), Elapsed: time.Since(start)}, nil
}

// Receive asks the peer's source at addr to write for d and returns the
// bytes read and the time from the request to the peer's end of stream.
func Receive(addr string, d time.Duration) (Transfer, error) {
	c, err := dial(addr, modeSource)
	if err != nil {
		return Transfer{}, err
	}
	defer c.Close()
	start := time.Now()
	if err := binary.Write(c, binary.BigEndian, uint64(d)); err != nil {
		return Transfer{}, fmt.Errorf("guestio: receive: %w", err)
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return Transfer{}, fmt.Errorf("guestio: receive: %w", err)
	}
	return Transfer{Bytes: n, Elapsed: time.Since(start)}, nil
}

// PingPong sends one byte to the peer's echo at addr and waits for it back,
// again and again for d, and returns each round trip's time.
func PingPong(addr string, d time.Duration) ([]time.Duration, error) {
	c, err := dial(addr, modeEcho)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetNoDelay(true); err != nil {
		return nil, fmt.Errorf("guestio: ping-pong: %w", err)
	}
	var rtts []time.Duration
	b := []byte{0}
	for end := time.Now().Add(d); time.Now().Before(end); {
		want := b[0]
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return rtts, fmt.Errorf("guestio: ping-pong: %w", err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return rtts, fmt.Errorf("guestio: ping-pong: %w", err)
		}
		rtts = append(rtts, time.Since(t0))
		if b[0] != want {
			return rtts, fmt.Errorf("guestio: ping-pong: sent %d, got %d back", want, b[0])
		}
		b[0]++
	}
	if len(rtts) == 0 {
		return nil, errors.New("guestio: ping-pong: no round trip")
	}
	return rtts, nil
}
