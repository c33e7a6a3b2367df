package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds a client call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// ErrBroken means an earlier call on the client failed mid-exchange (for
// example at its deadline), so replies can no longer be matched to
// requests; dial again.
var ErrBroken = errors.New("control: connection broken by an earlier failure")

// Error is a failure the server reported for one request.
type Error struct {
	Op, Msg string
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("control %s: %s", e.Op, e.Msg) }

// Client talks to one VMM's control socket. Its methods are safe for
// concurrent use; calls are sent one at a time.
type Client struct {
	conn net.Conn
	// broken is set once the connection can no longer be used.
	broken atomic.Bool
	// mu serializes calls and guards the fields below.
	mu     sync.Mutex
	r      *bufio.Reader
	nextID uint64
}

// maxResponse bounds one response line: a full console read in base64 plus
// room for the rest.
const maxResponse = MaxConsoleRead*4/3 + 64<<10

// Dial connects to the control socket at path, within DefaultTimeout.
func Dial(path string) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	return DialContext(ctx, path)
}

// DialContext connects to the control socket at path within ctx.
func DialContext(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("dial control socket: %w", err)
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close closes the connection, interrupting a call in progress.
func (c *Client) Close() error {
	c.broken.Store(true)
	return c.conn.Close()
}

// call sends req and reads its response, within ctx's deadline (or
// DefaultTimeout past extra if ctx has none).
func (c *Client) call(ctx context.Context, req Request, extra time.Duration) (Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken.Load() {
		return Response{}, ErrBroken
	}
	c.nextID++
	req.ID = c.nextID
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout + extra)
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := c.exchange(req)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection deadline can fire a moment before ctx's.
			err = context.DeadlineExceeded
		}
		return Response{}, fmt.Errorf("control %s: %w", req.Op, err)
	}
	if !resp.OK {
		return resp, &Error{Op: req.Op, Msg: resp.Error}
	}
	return resp, nil
}

// exchange writes one request line and reads one response line.
func (c *Client) exchange(req Request) (Response, error) {
	line, err := encodeRequest(req)
	if err != nil {
		return Response{}, err
	}
	if _, err := c.conn.Write(line); err != nil {
		return Response{}, err
	}
	reply, err := c.readLine()
	if err != nil {
		return Response{}, err
	}
	var resp Response
	if err := json.Unmarshal(reply, &resp); err != nil {
		return Response{}, fmt.Errorf("decode response: %w", err)
	}
	if resp.ID != req.ID {
		return Response{}, fmt.Errorf("response id %d for request %d", resp.ID, req.ID)
	}
	return resp, nil
}

// readLine reads one response line of at most maxResponse bytes.
func (c *Client) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxResponse {
			return nil, fmt.Errorf("response longer than %d bytes", maxResponse)
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// Status returns the VM's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.call(ctx, Request{Op: OpStatus}, 0)
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("control status: reply without a status")
	}
	return *resp.Status, nil
}

// Stop asks the guest to shut down, waits up to graceful for it (0 means
// DefaultStopTimeout) and then stops it by force. It reports whether force
// was needed.
func (c *Client) Stop(ctx context.Context, graceful time.Duration) (forced bool, err error) {
	return c.timed(ctx, OpStop, graceful)
}

// Reboot asks the guest to reboot and waits up to graceful (0 means
// DefaultStopTimeout) for it to reset, which ends the VM; the VMM stops
// it by force after that. It reports whether force was used.
func (c *Client) Reboot(ctx context.Context, graceful time.Duration) (forced bool, err error) {
	return c.timed(ctx, OpReboot, graceful)
}

// timed sends op (stop or reboot) with its graceful timeout and reports
// whether the VMM used force.
func (c *Client) timed(ctx context.Context, op string, graceful time.Duration) (forced bool, err error) {
	ms := graceful.Milliseconds()
	if graceful > 0 && ms == 0 {
		ms = 1
	}
	wait := graceful
	if wait == 0 {
		wait = DefaultStopTimeout
	}
	resp, err := c.call(ctx, Request{Op: op, TimeoutMS: ms}, wait+ForceTimeout)
	return resp.Stop != nil && resp.Stop.Forced, err
}

// Kill stops the VM by force at once.
func (c *Client) Kill(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpStop, Force: true}, ForceTimeout)
	return err
}

// Pause stops the vCPUs.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpPause}, 0)
	return err
}

// Resume restarts the vCPUs.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpResume}, 0)
	return err
}

// Console returns up to max bytes of console output from absolute offset
// (max 0 means DefaultConsoleRead) and the offset to pass next. If
// next-len(data) > offset, that many bytes were lost to the ring.
func (c *Client) Console(ctx context.Context, offset int64, max int) ([]byte, int64, error) {
	resp, err := c.call(ctx, Request{Op: OpConsole, Offset: offset, Max: max}, 0)
	if err != nil {
		return nil, 0, err
	}
	if resp.Console == nil {
		return nil, 0, fmt.Errorf("control console: reply without data")
	}
	return resp.Console.Data, resp.Console.Next, nil
}

// Counters returns the per-device counters.
func (c *Client) Counters(ctx context.Context) (map[string]uint64, error) {
	resp, err := c.call(ctx, Request{Op: OpCounters}, 0)
	if err != nil {
		return nil, err
	}
	return resp.Counters, nil
}
