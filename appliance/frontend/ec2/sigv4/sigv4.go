// Package sigv4 verifies AWS Signature Version 4 on the requests of the
// EC2 endpoint: the Authorization header's credential scope (date,
// region, service, "aws4_request"), the request's date against a clock
// skew, and the HMAC-SHA256 signature over the canonical request,
// compared in constant time.
//
// Everything it reads is client-controlled: a malformed header is an
// AuthFailure, never a panic, and the secret is never part of an error.
//
// The algorithm is AWS's "Signature Version 4 signing process" (Create a
// canonical request; Create a string to sign; Calculate the signature),
// as the SDKs and the CLI implement it for the EC2 Query protocol: the
// payload hash is that of the raw form-encoded body, which those clients
// send without an X-Amz-Content-Sha256 header.
//
// A presigned request carries the same signature in its query string
// instead ("Authenticating Requests: Using Query Parameters"):
// X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires (1 s to 7
// days), X-Amz-SignedHeaders and X-Amz-Signature, which is left out of
// the canonical query. It is good from X-Amz-Date (less the clock skew)
// until X-Amz-Date plus X-Amz-Expires; after that it is refused as
// expired, whatever the skew.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// DefaultSkew is how far a request's date may be from the server's clock,
// as AWS allows.
const DefaultSkew = 5 * time.Minute

// TimeFormat is the layout of X-Amz-Date.
const TimeFormat = "20060102T150405Z"

// MaxAuthorization bounds the Authorization header parsed.
const MaxAuthorization = 4 << 10

// The error codes of a refusal, as EC2 spells them.
const (
	// AuthFailure: no, malformed, unknown or out-of-date credentials.
	AuthFailure = "AuthFailure"
	// SignatureDoesNotMatch: well-formed, known credentials, but the
	// signature is not that of this request under the key's secret.
	SignatureDoesNotMatch = "SignatureDoesNotMatch"
)

// Error is a refused request: Code is AuthFailure or
// SignatureDoesNotMatch, Message says why (never the secret).
type Error struct {
	Code, Message string
}

// Error returns "Code: Message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

func authFailure(format string, a ...any) error {
	return &Error{Code: AuthFailure, Message: fmt.Sprintf(format, a...)}
}

// ErrUnknownKey is what a Verifier's Secret returns (wrapped or not) for
// an access key it does not know.
var ErrUnknownKey = errors.New("unknown access key")

// MaxExpires is the longest X-Amz-Expires of a presigned request, as AWS
// allows: seven days.
const MaxExpires = 7 * 24 * time.Hour

// Verifier checks signed requests of one region and service.
type Verifier struct {
	// Region and Service must match the credential scope.
	Region, Service string
	// Also lists more services the scope may name (an endpoint that
	// answers two protocols); Verify's Scope says which it was.
	Also []string
	// Skew is the allowed distance between X-Amz-Date and Now; zero
	// means DefaultSkew.
	Skew time.Duration
	// Now may be nil for time.Now.
	Now func() time.Time
	// Secret returns the secret of an access key ID; any error refuses
	// the request with AuthFailure.
	Secret func(accessKeyID string) (string, error)
}

// authorization is a parsed Authorization header.
type authorization struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
	// expires is X-Amz-Expires of a presigned request.
	expires time.Duration
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if h == "" {
		return a, authFailure("the request is not signed: no Authorization header")
	}
	if len(h) > MaxAuthorization {
		return a, authFailure("Authorization header too long")
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != Algorithm {
		return a, authFailure("unsupported signature algorithm: want %s", Algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, authFailure("malformed Authorization header")
		}
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return a, authFailure("malformed credential: want KEY/DATE/REGION/SERVICE/aws4_request")
	}
	a.keyID, a.date, a.region, a.service = cred[0], cred[1], cred[2], cred[3]
	a.signature = fields["Signature"]
	if len(a.signature) != 64 {
		return a, authFailure("malformed signature")
	}
	sh := fields["SignedHeaders"]
	if sh == "" {
		return a, authFailure("no SignedHeaders")
	}
	a.signedHeaders = strings.Split(sh, ";")
	for i, name := range a.signedHeaders {
		if name == "" || name != strings.ToLower(name) || (i > 0 && a.signedHeaders[i-1] >= name) {
			return a, authFailure("SignedHeaders must be lower-case, sorted and unique")
		}
	}
	return a, nil
}

// contains reports whether the sorted list has s.
func contains(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

// Scope is what a verified request was signed for.
type Scope struct {
	// KeyID is the access key ID.
	KeyID string
	// Service is the scope's service: Verifier.Service or one of Also.
	Service string
	// Presigned is a request signed in its query string.
	Presigned bool
}

// Verify checks r, whose body is body (already read), and returns the
// access key ID it is signed with. Every refusal is an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	sc, err := v.VerifyScope(r, body)
	return sc.KeyID, err
}

// VerifyScope is Verify, returning the scope the request was signed for:
// in its Authorization header, or presigned in its query string.
func (v *Verifier) VerifyScope(r *http.Request, body []byte) (Scope, error) {
	var (
		a       authorization
		amzDate string
		err     error
	)
	presigned := r.Header.Get("Authorization") == "" && strings.Contains(r.URL.RawQuery, "X-Amz-Signature=")
	if presigned {
		a, amzDate, err = v.parsePresigned(r.URL.RawQuery)
	} else {
		a, err = parseAuthorization(r.Header.Get("Authorization"))
		amzDate = r.Header.Get("X-Amz-Date")
	}
	if err != nil {
		return Scope{}, err
	}
	if a.region != v.Region || (a.service != v.Service && !slices.Contains(v.Also, a.service)) {
		return Scope{}, authFailure("credential scope %s/%s: this endpoint is region %q, service %q", a.region, a.service, v.Region, v.Service)
	}
	if !contains(a.signedHeaders, "host") || (!presigned && !contains(a.signedHeaders, "x-amz-date")) {
		return Scope{}, authFailure("SignedHeaders must include host and x-amz-date")
	}
	t, err := time.Parse(TimeFormat, amzDate)
	if err != nil {
		return Scope{}, authFailure("X-Amz-Date %q: want %s", amzDate, TimeFormat)
	}
	if a.date != amzDate[:8] {
		return Scope{}, authFailure("credential date %q is not that of X-Amz-Date", a.date)
	}
	if presigned {
		err = v.checkExpiry(t, a.expires)
	} else {
		err = v.checkSkew(t)
	}
	if err != nil {
		return Scope{}, err
	}
	secret, err := v.Secret(a.keyID)
	if err != nil {
		return Scope{}, authFailure("AWS was not able to validate the provided access credentials")
	}
	creq := canonicalRequest(r, a.signedHeaders, body, presigned)
	want := Signature(secret, amzDate, a.region, a.service, creq)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return Scope{}, &Error{Code: SignatureDoesNotMatch, Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return Scope{KeyID: a.keyID, Service: a.service, Presigned: presigned}, nil
}

// parsePresigned parses the X-Amz-* parameters of a presigned request's
// query into an authorization, with X-Amz-Date.
func (v *Verifier) parsePresigned(raw string) (authorization, string, error) {
	var a authorization
	if len(raw) > MaxAuthorization*4 {
		return a, "", authFailure("query string too long")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return a, "", authFailure("malformed query string")
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[k]) != 1 {
			return a, "", authFailure("a presigned request needs exactly one %s", k)
		}
	}
	h := fmt.Sprintf("%s Credential=%s, SignedHeaders=%s, Signature=%s", q.Get("X-Amz-Algorithm"),
		q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"))
	if a, err = parseAuthorization(h); err != nil {
		return a, "", err
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > MaxExpires {
		return a, "", authFailure("X-Amz-Expires %q: want 1 to %d seconds", q.Get("X-Amz-Expires"), int(MaxExpires/time.Second))
	}
	a.expires = time.Duration(secs) * time.Second
	return a, q.Get("X-Amz-Date"), nil
}

// checkExpiry refuses a presigned request past signed time t plus
// expires, or dated further ahead than the skew.
func (v *Verifier) checkExpiry(t time.Time, expires time.Duration) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	switch n := now(); {
	case n.After(t.Add(expires)):
		return authFailure("Request has expired: signed at %s for %v", t.Format(TimeFormat), expires)
	case t.Sub(n) > skew:
		return authFailure("signature not yet current: signed at %s, more than %v ahead", t.Format(TimeFormat), skew)
	}
	return nil
}

// checkSkew refuses a request dated too far from now.
func (v *Verifier) checkSkew(t time.Time) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	d := now().Sub(t)
	switch {
	case d > skew:
		return authFailure("request has expired: signed at %s, more than %v ago", t.Format(TimeFormat), skew)
	case d < -skew:
		return authFailure("signature not yet current: signed at %s, more than %v ahead", t.Format(TimeFormat), skew)
	}
	return nil
}

// Signature returns the hex signature of a canonical request: the string
// to sign (algorithm, date, scope, hash of the canonical request) under
// the key derived from secret, date, region and service.
func Signature(secret, amzDate, region, service, canonicalRequest string) string {
	if len(amzDate) < 8 {
		return ""
	}
	scope := amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
	sum := sha256.Sum256([]byte(canonicalRequest))
	sts := Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := mac([]byte("AWS4"+secret), amzDate[:8])
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, sts))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// CanonicalRequest returns the canonical request of r over the signed
// headers (lower-case, sorted) and body: method, URI, query, headers,
// signed header list and the hex SHA-256 of the body, one per line.
func CanonicalRequest(r *http.Request, signed []string, body []byte) string {
	return canonicalRequest(r, signed, body, false)
}

// canonicalRequest is CanonicalRequest; presigned leaves X-Amz-Signature
// out of the query.
func canonicalRequest(r *http.Request, signed []string, body []byte, presigned bool) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalURI(r.URL) + "\n")
	b.WriteString(canonicalQuery(r.URL.RawQuery, presigned) + "\n")
	for _, name := range signed {
		b.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n")
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// canonicalURI is the path as sent, URI-encoded once more (every service
// but S3), "/" when empty.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return escape(p, true)
}

// canonicalQuery sorts the query's parameters by name and each name's
// values, all URI-encoded (a space as %20).
func canonicalQuery(raw string, presigned bool) string {
	q, _ := url.ParseQuery(raw)
	if presigned {
		q.Del("X-Amz-Signature")
	}
	for k := range q {
		sort.Strings(q[k])
	}
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// headerValue is a signed header's value: Host from the request line or
// Host header, the others' values trimmed, inner runs of spaces made one,
// and joined by commas.
func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return r.Host
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
		return strconv.FormatInt(r.ContentLength, 10)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// escape URI-encodes s as RFC 3986 asks: every byte but the unreserved
// A-Z a-z 0-9 - _ . ~ (and '/' when keepSlash) as %XX, upper-case.
func escape(s string, keepSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
