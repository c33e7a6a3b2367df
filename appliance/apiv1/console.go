package apiv1

import (
	"context"
	"net/url"
	"time"
)

// ConsoleInput is the body of POST /v1/instances/{id}/console: bytes to
// type into the instance's serial port. JSON carries them in base64, so
// any byte (Ctrl-C is 0x03, an arrow key an escape sequence) travels
// unchanged, and the body is JSON like every other.
type ConsoleInput struct {
	Data []byte `json:"data" required:"true"`
}

// ConsoleInputResult is the answer of POST /v1/instances/{id}/console.
type ConsoleInputResult struct {
	// Accepted is how many bytes the guest's serial port took; the rest
	// were dropped because the guest is not reading it.
	Accepted int `json:"accepted"`
}

// ConsoleWait reads instance id's console like Console, but when there is
// no output past off yet waits up to wait (the server caps it at 30s) for
// some. An answer with no output and NextOffset == off means the wait
// ended; call again.
func (c *Client) ConsoleWait(ctx context.Context, id string, off int64, max int, wait time.Duration) (ConsoleOutput, error) {
	q := url.Values{}
	if off != 0 {
		q.Set("offset", itoa(off))
	}
	if max != 0 {
		q.Set("max", itoa(int64(max)))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out ConsoleOutput
	err := c.Do(ctx, "GET /v1/instances/{id}/console", []string{id}, q, nil, &out)
	return out, err
}

// ConsoleWrite types b into running instance id's serial port and returns
// how many bytes the guest took.
func (c *Client) ConsoleWrite(ctx context.Context, id string, b []byte) (int, error) {
	out, err := call[ConsoleInputResult](ctx, c, "POST /v1/instances/{id}/console", ConsoleInput{Data: b}, id)
	return out.Accepted, err
}
