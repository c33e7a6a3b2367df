package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Session limits. A session ends at the first of: logout, IdleTimeout
// without a request, MaxLifetime after login, or its token being revoked
// (each request authenticates the token again).
const (
	IdleTimeout = 30 * time.Minute
	MaxLifetime = 12 * time.Hour
	// MaxSessions bounds the sessions held at once; only a valid token
	// opens one, so a full table means someone logs in in a loop.
	MaxSessions = 4096
)

// errTooManySessions is returned by create when MaxSessions are open.
var errTooManySessions = errors.New("too many console sessions are open; log out elsewhere or wait")

// session is one logged-in browser. Its ID lives only in the browser's
// cookie; the table keeps the ID's SHA-256.
type session struct {
	// token is the API token the user logged in with, kept only here in
	// memory, so that every request authenticates it again: revoking the
	// token, or deleting its tenant, ends the session.
	token string
	// csrf is the session's anti-forgery token, in every form.
	csrf    string
	created time.Time
	seen    time.Time
	// flash is a one-shot message for the next page; guarded by the
	// table's mu.
	flash string
}

// sessionKey is the table key of a session ID.
type sessionKey [sha256.Size]byte

// sessions is the server-side session table, in memory: a restart of the
// appliance logs everyone out, which is what it should do.
type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	// m holds the open sessions; guarded by mu.
	m map[sessionKey]*session
}

// newSessions returns an empty table on the clock now.
func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[sessionKey]*session{}}
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// keyOf returns the table key of a session ID.
func keyOf(id string) sessionKey { return sha256.Sum256([]byte(id)) }

// expired says s has ended at now.
func (s *session) expired(now time.Time) bool {
	return now.Sub(s.seen) >= IdleTimeout || now.Sub(s.created) >= MaxLifetime
}

// create opens a session for token and returns its ID (256 random bits).
func (ss *sessions) create(token string) (string, error) {
	id, err := randomString(32)
	if err != nil {
		return "", err
	}
	csrf, err := randomString(32)
	if err != nil {
		return "", err
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= MaxSessions {
		ss.pruneLocked(now)
		if len(ss.m) >= MaxSessions {
			return "", errTooManySessions
		}
	}
	ss.m[keyOf(id)] = &session{token: token, csrf: csrf, created: now, seen: now}
	return id, nil
}

// pruneLocked drops expired sessions; ss.mu is held.
func (ss *sessions) pruneLocked(now time.Time) {
	for k, s := range ss.m {
		if s.expired(now) {
			delete(ss.m, k)
		}
	}
}

// get returns the session of id and marks it seen, or false if there is
// none or it expired (it is then dropped). The copy returned has no flash.
func (ss *sessions) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	now := ss.now()
	k := keyOf(id)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	if !ok {
		return session{}, false
	}
	if s.expired(now) {
		delete(ss.m, k)
		return session{}, false
	}
	s.seen = now
	out := *s
	out.flash = ""
	return out, true
}

// end drops the session of id, if any.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	delete(ss.m, keyOf(id))
	ss.mu.Unlock()
}

// setFlash leaves msg for the next page of session id.
func (ss *sessions) setFlash(id, msg string) {
	ss.mu.Lock()
	if s, ok := ss.m[keyOf(id)]; ok {
		s.flash = msg
	}
	ss.mu.Unlock()
}

// takeFlash returns and clears the message left for session id.
func (ss *sessions) takeFlash(id string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[keyOf(id)]
	if !ok {
		return ""
	}
	msg := s.flash
	s.flash = ""
	return msg
}

// len returns how many sessions are held.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// sameSecret compares a submitted anti-forgery token with the expected
// one in constant time; an empty expected value never matches.
func sameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
