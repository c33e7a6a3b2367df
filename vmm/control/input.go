package control

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Input pacing. A client that floods the input op must not keep the VMM
// busy raising interrupts: requests share one token bucket of InputRate
// bytes a second (bursts up to MaxInput), and each costs at least
// minInputCost, which bounds the interrupt rate a stream of one-byte
// requests causes to InputRate/minInputCost a second. 32 KiB/s is three
// times a 115200-baud line: typing never waits, pasting a page does,
// briefly.
const (
	// InputRate is the sustained serial input rate, in bytes a second.
	InputRate = 32 << 10
	// minInputCost is what the smallest input request is charged.
	minInputCost = 64
)

// limiter is a token bucket whose tokens are bytes. A request takes its
// tokens at once, going into debt if it must, and waits for the debt to
// be paid; later requests queue behind it.
type limiter struct {
	rate  float64 // tokens a second
	burst float64
	now   func() time.Time

	mu sync.Mutex
	// Both fields below are guarded by mu.
	tokens float64 // may be negative: debt owed by waiting requests
	last   time.Time
}

// newLimiter returns a full bucket.
func newLimiter(rate, burst int, now func() time.Time) *limiter {
	return &limiter{rate: float64(rate), burst: float64(burst), now: now, tokens: float64(burst), last: now()}
}

// reserve charges n bytes (at least minInputCost) and returns how long
// the caller must wait before acting.
func (l *limiter) reserve(n int) time.Duration {
	cost := float64(max(n, minInputCost))
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if el := now.Sub(l.last); el > 0 {
		l.tokens = min(l.burst, l.tokens+el.Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= cost
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// consoleInput paces p, then hands it to the VM's UART.
func (s *Server) consoleInput(ctx context.Context, p []byte) (*InputResult, error) {
	if d := s.input.reserve(len(p)); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the input rate limit: %w", ctx.Err())
		}
	}
	return &InputResult{Accepted: s.vm.ConsoleInput(p)}, nil
}

// Input queues p (1..MaxInput bytes) for the guest's serial port and
// returns how many bytes its UART took; the rest were dropped because the
// guest is not reading. The server paces input (InputRate), so a call may
// wait.
func (c *Client) Input(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 || len(p) > MaxInput {
		return 0, fmt.Errorf("control input: %d bytes (want 1..%d)", len(p), MaxInput)
	}
	resp, err := c.call(ctx, Request{Op: OpInput, Data: p}, 0)
	if err != nil {
		return 0, err
	}
	if resp.Input == nil {
		return 0, fmt.Errorf("control input: reply without a count")
	}
	return resp.Input.Accepted, nil
}
