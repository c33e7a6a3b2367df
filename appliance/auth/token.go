package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Token format: "ivt_" + 16 hex digits of token ID + "_" + 43 base64url
// characters encoding 32 random bytes (256 bits). The ID lets the store find
// the record without using the secret as a key; the secret is compared in
// constant time through its SHA-256.
const (
	tokenPrefix = "ivt_"
	idHexLen    = 16
	secretBytes = 32
	secretLen   = 43 // base64.RawURLEncoding.EncodedLen(32)
	// TokenLen is the length of every token Ironvisor issues.
	TokenLen = len(tokenPrefix) + idHexLen + 1 + secretLen
	// MaxHeaderLen bounds the Authorization header ParseBearer accepts.
	MaxHeaderLen = 256
)

// ErrUnauthenticated is returned for any missing, malformed, unknown or
// revoked credential. It deliberately says no more than that.
var ErrUnauthenticated = apiv1.NewError(apiv1.Unauthorized, "unauthenticated")

// ParseBearer extracts the token from an Authorization header value of the
// form "Bearer <token>" (scheme case-insensitive, RFC 6750 section 2.1).
// It checks only the shape; Authenticate checks the token itself.
func ParseBearer(header string) (string, error) {
	if len(header) > MaxHeaderLen {
		return "", fmt.Errorf("%w: authorization header too long", ErrUnauthenticated)
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: want \"Authorization: Bearer <token>\"", ErrUnauthenticated)
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrUnauthenticated)
	}
	// RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=".
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~+/=", c) >= 0
		if !ok {
			return "", fmt.Errorf("%w: bad character in bearer token", ErrUnauthenticated)
		}
	}
	return tok, nil
}

// splitToken returns the token ID of a well-formed Ironvisor token.
func splitToken(tok string) (id string, ok bool) {
	if len(tok) != TokenLen || !strings.HasPrefix(tok, tokenPrefix) {
		return "", false
	}
	id = tok[len(tokenPrefix) : len(tokenPrefix)+idHexLen]
	if tok[len(tokenPrefix)+idHexLen] != '_' {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(tok)-secretLen:]); err != nil {
		return "", false
	}
	return id, true
}

// newToken returns a fresh token and its ID.
func newToken() (tok, id string, err error) {
	var idb [idHexLen / 2]byte
	var secret [secretBytes]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	id = hex.EncodeToString(idb[:])
	return tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:]), id, nil
}

// hashToken returns the hex SHA-256 of the whole token, the only form the
// store keeps.
func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// hashEqual compares two hex hashes in constant time.
func hashEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
