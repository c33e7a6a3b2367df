package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Detaching from an attached console: Ctrl-] then q (as telnet's escape
// character, which a serial login rarely needs). Ctrl-] twice sends one
// Ctrl-]; Ctrl-] followed by anything else sends both.
const (
	escapeKey = 0x1d // Ctrl-]
	detachKey = 'q'
)

// Console session pacing.
const (
	// consoleWait is how long one output request long-polls.
	consoleWait = 10 * time.Second
	// consoleIdle is how long the output loop rests after an answer that
	// came back empty at once (a stopped instance) or an error.
	consoleIdle = time.Second
)

// consoleAPI is what an attached console needs of the API; *apiv1.Client
// has it, and tests give a fake.
type consoleAPI interface {
	ConsoleWait(ctx context.Context, id string, off int64, max int, wait time.Duration) (apiv1.ConsoleOutput, error)
	ConsoleWrite(ctx context.Context, id string, b []byte) (int, error)
}

// attachConsole connects in and out to instance id's serial console until
// the user detaches (Ctrl-] q), in ends or ctx is done. If in is a
// terminal, it is put in raw mode, so that every key (Ctrl-C included)
// goes to the guest, and restored on return, whatever ends the session.
func (x *ctlCtx) attachConsole(ctx context.Context, id string, in io.Reader) error {
	return x.attachConsoleWith(ctx, x.c, id, in)
}

// attachConsoleWith is attachConsole over api.
func (x *ctlCtx) attachConsoleWith(ctx context.Context, api consoleAPI, id string, in io.Reader) error {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return fmt.Errorf("raw terminal: %w", err)
		}
		defer term.Restore(int(f.Fd()), old)
	}
	// In raw mode no key makes a signal, but kill and a closed terminal
	// still do: end the session so that the deferred restore runs.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	fmt.Fprintf(x.errw, "[attached to %s's serial console; Ctrl-] q detaches]\r\n", id)
	err := runConsole(ctx, api, id, in, x.out, x.errw)
	fmt.Fprint(x.errw, "\r\n[detached]\r\n")
	return err
}

// runConsole streams instance id's console output to out and sends what
// in reads to it, until in yields the detach sequence or ends, or ctx is
// done. Problems sending keys are reported on errw and the session goes
// on (the instance may start again); it returns in's read error, if any.
func runConsole(ctx context.Context, api consoleAPI, id string, in io.Reader, out, errw io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		streamConsole(ctx, api, id, out, errw)
	}()
	defer func() { cancel(); <-done }()
	keys := make(chan []byte)
	readErr := make(chan error, 1)
	go readKeys(in, keys, readErr, done)
	var esc escaper
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read keys: %w", err)
		case b := <-keys:
			send, detach := esc.feed(b)
			if len(send) > 0 {
				if _, err := api.ConsoleWrite(ctx, id, send); err != nil && ctx.Err() == nil {
					fmt.Fprintf(errw, "\r\n[keys not sent: %v]\r\n", err)
				}
			}
			if detach {
				return nil
			}
		}
	}
}

// readKeys sends what in yields on keys, each read in a fresh slice,
// then its error on errc. It runs until in fails or stop is closed: a
// terminal read cannot be interrupted, so the goroutine outlives a
// detach until the next key or the process's end.
func readKeys(in io.Reader, keys chan<- []byte, errc chan<- error, stop <-chan struct{}) {
	for {
		buf := make([]byte, 4096)
		n, err := in.Read(buf)
		if n > 0 {
			select {
			case keys <- buf[:n]:
			case <-stop:
				return
			}
		}
		if err != nil {
			errc <- err
			return
		}
	}
}

// streamConsole copies the console to out from the start of what the
// VMM still holds, long-polling for more, until ctx is done.
func streamConsole(ctx context.Context, api consoleAPI, id string, out, errw io.Writer) {
	var off int64
	lastErr := ""
	for ctx.Err() == nil {
		start := time.Now()
		con, err := api.ConsoleWait(ctx, id, off, 0, consoleWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(errw, "\r\n[console: %v]\r\n", err)
				lastErr = msg
			}
			rest(ctx, consoleIdle)
			continue
		}
		lastErr = ""
		if con.Output != "" {
			io.WriteString(out, con.Output)
		}
		empty := con.Output == "" && con.NextOffset == off
		off = con.NextOffset
		if empty && time.Since(start) < consoleWait/2 {
			rest(ctx, consoleIdle) // not running: nothing to wait for
		}
	}
}

// rest waits d or until ctx is done.
func rest(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// escaper finds the detach sequence in the keys typed.
type escaper struct {
	pending bool // the last key was the escape key
}

// feed takes the next keys and returns those to send and whether the
// user asked to detach (keys after the sequence are dropped).
func (e *escaper) feed(b []byte) (send []byte, detach bool) {
	if !e.pending && bytes.IndexByte(b, escapeKey) < 0 {
		return b, false // the common case: no escape key
	}
	send = make([]byte, 0, len(b)+1)
	for _, c := range b {
		switch {
		case e.pending && c == detachKey:
			return send, true
		case e.pending && c == escapeKey:
			send = append(send, escapeKey)
			e.pending = false
		case e.pending:
			send = append(send, escapeKey, c)
			e.pending = false
		case c == escapeKey:
			e.pending = true
		default:
			send = append(send, c)
		}
	}
	return send, false
}

// console is "instances console ID [--attach | --dump]".
func (x *ctlCtx) console(args []string) error {
	var attach, dump bool
	pos, err := x.sub("console", args, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&attach, "attach", false, "attach even if stdin is not a terminal")
		fs.BoolVar(&dump, "dump", false, "print the output so far and exit")
	})
	if err != nil {
		return err
	}
	in := x.in
	if in == nil {
		in = os.Stdin
	}
	if !attach && !dump && !x.json {
		f, ok := in.(*os.File)
		attach = ok && term.IsTerminal(int(f.Fd()))
	}
	if attach && !x.json {
		return x.attachConsole(context.Background(), pos[0], in)
	}
	raw, err := x.call("GET /v1/instances/{id}/console", pos, nil, nil)
	if err != nil || x.json {
		x.print(raw, nil)
		return err
	}
	var con apiv1.ConsoleOutput
	if err := json.Unmarshal(raw, &con); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if !con.Available {
		fmt.Fprintln(x.errw, "(no VMM is running this instance: no console output)")
	}
	_, err = fmt.Fprint(x.out, con.Output)
	return err
}
