package api

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// serveTest serves h on a loopback listener with the given limits and
// returns its address.
func serveTest(t *testing.T, h http.Handler, maxConns int, writeTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(h, limits{conns: maxConns, perAddr: maxConns, parked: maxConns, park: time.Minute}, writeTimeout)
	go s.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return ln.Addr().String()
}

// dial opens a raw connection to addr.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnectionsBeyondLimitWait: with every slot held by clients that
// send nothing, one more client's request waits (no answer while the
// slots are held) and is answered as soon as one slot is freed.
func TestConnectionsBeyondLimitWait(t *testing.T) {
	served := make(chan struct{}, 4)
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- struct{}{}
		io.WriteString(w, "ok")
	}), 2, time.Minute)
	hold := []net.Conn{dial(t, addr), dial(t, addr)}
	// The holders are accepted: each gets an answer to a request it sends
	// later, so first make sure both hold their slot with a served request.
	for _, c := range hold {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatalf("holder: %v", err)
		}
		<-served
	}
	third := dial(t, addr)
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the limit was served (read: %v)", err)
	}
	hold[0].Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the waiting connection, once a slot is free: %v", err)
	}
	resp.Body.Close()
}

// TestSlowReaderIsCut: a client that asks for a large answer and never
// reads it does not hold its handler and connection forever: the write
// fails at the write timeout.
func TestSlowReaderIsCut(t *testing.T) {
	werr := make(chan error, 1)
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range 1 << 10 { // 1 GiB, far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}), 4, 500*time.Millisecond)
	c := dial(t, addr)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("the whole answer was written to a client that reads nothing")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a client that does not read held its handler for 20 s")
	}
}

// TestConnectionsPerAddressCapped: a client that holds its share of
// connections has the next one parked, unanswered, and then closed; it
// holds no slot: another client is still served at once, although the
// parked one and the holders fill every slot.
func TestConnectionsPerAddressCapped(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	parked := make(chan struct{}, 1)
	s := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		limits{conns: 3, perAddr: 2, parked: 4, park: 500 * time.Millisecond,
			parkedHook: func() { parked <- struct{}{} }}, time.Minute)
	go s.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	addr := ln.Addr().String()
	get := func(c net.Conn) error {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	hold := []net.Conn{dial(t, addr), dial(t, addr)}
	for _, c := range hold {
		if err := get(c); err != nil {
			t.Fatalf("holder: %v", err)
		}
	}
	start := time.Now()
	third := make(chan error, 1)
	go func() { third <- get(dial(t, addr)) }()
	select { // the third is accepted and parked
	case <-parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection of one address was never parked")
	}
	other, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := get(other); err != nil {
		t.Fatalf("another address, while one is parked: %v", err)
	}
	if err := <-third; err == nil {
		t.Fatal("a third connection from the same address was served")
	} else if time.Since(start) < 400*time.Millisecond {
		t.Fatalf("the third connection was closed after %v, not parked", time.Since(start))
	}
	// A closed connection gives its slot back.
	hold[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for get(dial(t, addr)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the address's slot was not given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
