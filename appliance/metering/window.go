package metering

import (
	"fmt"
	"strconv"
	"time"
)

// MaxWindow bounds a usage query window.
const MaxWindow = 100 * 366 * 24 * time.Hour

// ParseWindow parses the untrusted from and to query parameters of a usage
// request. Each is RFC 3339 (e.g. 2026-11-01T00:00:00Z) or Unix seconds.
// An empty to means now; an empty from means the start of to's month (UTC).
// The window must be non-empty and at most MaxWindow long.
func ParseWindow(from, to string, now time.Time) (time.Time, time.Time, error) {
	t, err := parseTime("to", to, now)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	y, m, _ := t.UTC().Date()
	f, err := parseTime("from", from, time.Date(y, m, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !t.After(f) {
		return time.Time{}, time.Time{}, fmt.Errorf("usage window: to %s is not after from %s", t.Format(time.RFC3339), f.Format(time.RFC3339))
	}
	if t.Sub(f) > MaxWindow || t.Sub(f) < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("usage window: longer than %v", MaxWindow)
	}
	return f, t, nil
}

// parseTime parses one window bound; def is used when s is empty.
func parseTime(name, s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def.UTC(), nil
	}
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("usage window: %s is too long", name)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		// Years 0001..9999 only, so time arithmetic cannot overflow.
		if n < -62135596800 || n > 253402300799 {
			return time.Time{}, fmt.Errorf("usage window: %s %d out of range", name, n)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("usage window: %s: want RFC 3339 or Unix seconds: %w", name, err)
	}
	return t.UTC(), nil
}
