package ratelimit

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Default rate of failed authentications of one client address: a
// person who mistypes a token, or a script with a stale one, stays far
// below it.
const (
	DefaultStrangerRate  = 5  // failures per second
	DefaultStrangerBurst = 50 // failures at once
)

// Strangers limits what a client that does not authenticate can cost: a
// token bucket of failed authentications (answers of 401: a missing or
// bad API token, a failed login on the console, an EC2 request whose
// access key is unknown or whose signature is wrong) per client address
// (ClientOf). An address that has used up its failures is refused with
// 429 before its request reaches a front end, so it costs no token
// hashing, no signature check and no log line, until its bucket refills.
// Requests that authenticate take nothing from it.
type Strangers struct {
	l *Limiter
	// hold delays a refusal (Hold; tests replace it).
	hold func(context.Context)
}

// NewStrangers returns the limit of rate failures a second and burst
// (DefaultStrangerRate and DefaultStrangerBurst for zeros); a negative
// rate is no limit (nil).
func NewStrangers(rate float64, burst int, now func() time.Time) *Strangers {
	l := NewOr(rate, burst, DefaultStrangerRate, DefaultStrangerBurst, now)
	if l == nil {
		return nil
	}
	return &Strangers{l: l, hold: Hold}
}

// Refusal answers a request refused by Strangers in the format of the
// front end it was sent to; wait is when the client may ask again.
type Refusal func(w http.ResponseWriter, r *http.Request, wait time.Duration)

// Handler wraps h: a request from an address with no failure left is
// held (Hold) and answered by refuse without reaching h; an answer of
// 401 from h takes one failure from its address's bucket. A nil
// Strangers returns h.
func (s *Strangers) Handler(h http.Handler, refuse Refusal) http.Handler {
	if s == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := ClientOf(r.RemoteAddr)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if wait := s.l.wait(key); wait > 0 {
			s.hold(r.Context())
			refuse(w, r, wait)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized {
			s.l.Allow(key)
		}
	})
}

// ClientOf is who a remote address ("IP:port") counts as: an IPv4
// address, or the /64 of an IPv6 one (what one host is usually given).
func ClientOf(remote string) (string, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		host, _, serr := net.SplitHostPort(remote)
		ip, perr := netip.ParseAddr(host)
		if serr != nil || perr != nil {
			return "", false
		}
		ap = netip.AddrPortFrom(ip, 0)
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is4() {
		return ip.String(), true
	}
	p, err := ip.Prefix(64)
	return p.String(), err == nil
}

// statusWriter remembers the status of the answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WriteHeader records code and writes it.
func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// SetRetryAfter sets a refusal's Retry-After header: wait in whole
// seconds, at least 1.
func SetRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}
