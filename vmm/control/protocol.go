// Package control is the control socket of one VMM process: a server that
// `ironvisor vmm run --control SOCKET` runs in front of its VM, and the client
// the appliance uses to stop, pause, resume, inspect and read the console of
// that VM.
//
// # Protocol
//
// JSON lines over a unix stream socket. The client sends one request per
// line and the server answers each, in order, with one response line:
//
//	{"id":1,"op":"status"}
//	{"id":1,"ok":true,"status":{"state":"running","uptime_ns":1200000,"vcpus":2,"memory_bytes":268435456}}
//	{"id":2,"op":"stop","timeout_ms":5000}
//	{"id":2,"ok":true,"stop":{"forced":false}}
//	{"id":3,"op":"console","offset":0,"max":4096}
//	{"id":3,"ok":true,"console":{"data":"<base64>","next":812}}
//	{"id":4,"op":"bogus"}
//	{"id":4,"ok":false,"error":"unknown op \"bogus\""}
//
// Ops:
//
//   - status: the VM's Status.
//   - stop: ask the guest to shut down and wait up to timeout_ms (default
//     DefaultStopTimeout, at most MaxStopTimeout); if it has not stopped by
//     then, or the graceful request failed, stop it by force. With
//     "force":true, stop by force at once. The reply says whether force
//     was used.
//   - reboot: ask the guest to end its VM in order, as stop does (the
//     ACPI power button, then Ctrl-Alt-Del), and wait up to timeout_ms
//     for the guest to power off or reset the machine, which ends the VM;
//     if it has not by then, stop it by force. The reply is a stop's. The
//     caller starts the next VM.
//   - pause, resume: stop and restart the vCPUs.
//   - console: up to max bytes (at most MaxConsoleRead) of console output
//     (0 means DefaultConsoleRead)
//     from absolute offset; next is the offset to ask for next. If the
//     bytes at offset were already overwritten, data starts later: the gap
//     is next-len(data)-offset bytes.
//   - counters: the per-device counters, a map of name to count.
//   - input: queue data (base64, 1..MaxInput bytes) for the guest to read
//     from its serial port; the reply's accepted says how many bytes the
//     UART took, the rest were dropped because the guest is not reading.
//     Input is rate-limited (InputRate, input.go): a request over the
//     limit waits for its turn, so a flooding client slows itself down
//     rather than the vCPUs.
//
// For example, typing "ls" and Enter:
//
//	{"id":5,"op":"input","data":"bHMK"}
//	{"id":5,"ok":true,"input":{"accepted":3}}
//
// A request line longer than MaxLine is answered with an error and the
// connection is closed; a malformed line or unknown field or op gets an error
// reply (id 0 if none could be read) and the connection stays usable.
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Limits on what a client may ask for.
const (
	// MaxLine is the longest request line, newline included: room for
	// MaxInput bytes in base64.
	MaxLine = 8192
	// MaxInput is the most serial input one request carries: the UART's
	// receive queue.
	MaxInput = 4096
	// MaxConsoleRead is the most console bytes one request returns.
	MaxConsoleRead = 1 << 20
	// DefaultConsoleRead is what a console request with max 0 returns at
	// most.
	DefaultConsoleRead = 64 << 10
	// DefaultStopTimeout is how long a graceful stop waits by default.
	DefaultStopTimeout = 10 * time.Second
	// MaxStopTimeout is the longest graceful wait a client may ask for.
	MaxStopTimeout = 10 * time.Minute
	// ForceTimeout bounds a forced stop.
	ForceTimeout = 10 * time.Second
)

// Op names.
const (
	OpStatus   = "status"
	OpStop     = "stop"
	OpReboot   = "reboot"
	OpPause    = "pause"
	OpResume   = "resume"
	OpConsole  = "console"
	OpCounters = "counters"
	OpInput    = "input"
)

// Request is one client request line.
type Request struct {
	ID        uint64 `json:"id"`
	Op        string `json:"op"`
	Force     bool   `json:"force,omitempty"`      // stop
	TimeoutMS int64  `json:"timeout_ms,omitempty"` // stop, reboot
	Offset    int64  `json:"offset,omitempty"`     // console
	Max       int    `json:"max,omitempty"`        // console
	Data      []byte `json:"data,omitempty"`       // input
}

// Response is one server reply line. Exactly one of the payload fields is
// set when OK, and Error when not.
type Response struct {
	ID       uint64            `json:"id"`
	OK       bool              `json:"ok"`
	Error    string            `json:"error,omitempty"`
	Status   *Status           `json:"status,omitempty"`
	Stop     *StopResult       `json:"stop,omitempty"`
	Console  *ConsoleChunk     `json:"console,omitempty"`
	Counters map[string]uint64 `json:"counters,omitempty"`
	Input    *InputResult      `json:"input,omitempty"`
}

// InputResult is the reply to input.
type InputResult struct {
	// Accepted is how many bytes the guest's UART queued; the rest were
	// dropped (its receive queue was full).
	Accepted int `json:"accepted"`
}

// Status describes a VM.
type Status struct {
	// State is one of "running", "paused", "stopping", "stopped".
	State       string        `json:"state"`
	Uptime      time.Duration `json:"uptime_ns"`
	VCPUs       int           `json:"vcpus"`
	MemoryBytes uint64        `json:"memory_bytes"`
	// ExitReason says why the VM stopped ("poweroff", "reset", "error: …",
	// "device broken: …"); empty while it runs.
	ExitReason string `json:"exit_reason,omitempty"`
}

// StopResult is the reply to stop.
type StopResult struct {
	// Forced is true if the VM was stopped by force.
	Forced bool `json:"forced"`
}

// ConsoleChunk is the reply to console.
type ConsoleChunk struct {
	Data []byte `json:"data"`
	Next int64  `json:"next"`
}

// errRequest marks a request the server refuses before acting on it.
var errRequest = errors.New("bad request")

// DecodeRequest parses and checks one request line (without limits on
// length, which the reader enforces). It never panics.
func DecodeRequest(line []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %v", errRequest, err)
	}
	if dec.More() {
		return r, fmt.Errorf("%w: trailing data after the request", errRequest)
	}
	switch r.Op {
	case OpStatus, OpPause, OpResume, OpCounters:
	case OpStop, OpReboot:
		if r.TimeoutMS < 0 || r.TimeoutMS > MaxStopTimeout.Milliseconds() {
			return r, fmt.Errorf("%w: timeout_ms %d outside 0..%d", errRequest, r.TimeoutMS, MaxStopTimeout.Milliseconds())
		}
	case OpConsole:
		if r.Offset < 0 || r.Max < 0 || r.Max > MaxConsoleRead {
			return r, fmt.Errorf("%w: console offset %d max %d (offset >= 0, max 0..%d)", errRequest, r.Offset, r.Max, MaxConsoleRead)
		}
	case OpInput:
		if len(r.Data) == 0 || len(r.Data) > MaxInput {
			return r, fmt.Errorf("%w: input of %d bytes (want 1..%d)", errRequest, len(r.Data), MaxInput)
		}
	default:
		return r, fmt.Errorf("%w: unknown op %q", errRequest, r.Op)
	}
	return r, nil
}

// stopTimeout is the graceful wait r asks for.
func (r Request) stopTimeout() time.Duration {
	if r.TimeoutMS == 0 {
		return DefaultStopTimeout
	}
	return time.Duration(r.TimeoutMS) * time.Millisecond
}
