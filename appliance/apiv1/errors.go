package apiv1

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is the kind of an error: the "code" of every error answer, and
// what decides its HTTP status. A Code is itself an error, so a package
// can wrap it (fmt.Errorf("%w: ...", apiv1.InUse)) and a caller can match
// it (errors.Is(err, apiv1.NotFound)), on either side of the wire.
type Code string

// The codes. A front end other than the native API (EC2 Query, the web
// console) maps these, and only these, onto its own.
const (
	// InvalidParameter: the request is malformed or names something that
	// cannot be used (400).
	InvalidParameter Code = "InvalidParameter"
	// NotFound: the object does not exist, or belongs to another tenant,
	// which is answered alike (404).
	NotFound Code = "NotFound"
	// AlreadyExists: the name or key is taken (409).
	AlreadyExists Code = "AlreadyExists"
	// InUse: the object cannot go while an instance uses it (409).
	InUse Code = "InUse"
	// IncorrectState: not allowed in the object's current state, or on
	// a host that lacks what it takes (409).
	IncorrectState Code = "IncorrectState"
	// InsufficientCapacity: the host has no room for the instances (409).
	InsufficientCapacity Code = "InsufficientCapacity"
	// LimitExceeded: a pool or a quota is exhausted (409).
	LimitExceeded Code = "LimitExceeded"
	// RequestLimitExceeded: the token sent more requests than its rate
	// allows; the answer's Retry-After says when to try again (429).
	RequestLimitExceeded Code = "RequestLimitExceeded"
	// Unauthorized: no valid bearer token (401).
	Unauthorized Code = "Unauthorized"
	// Forbidden: the token may not call this route (403).
	Forbidden Code = "Forbidden"
	// InternalError: anything else (500).
	InternalError Code = "InternalError"
)

// codes lists every Code with its status and the text it reads as when it
// is wrapped (kept as the messages the API answered before the taxonomy).
var codes = map[Code]struct {
	status int
	text   string
}{
	InvalidParameter:     {http.StatusBadRequest, "bad request"},
	NotFound:             {http.StatusNotFound, "not found"},
	AlreadyExists:        {http.StatusConflict, "already exists"},
	InUse:                {http.StatusConflict, "in use"},
	IncorrectState:       {http.StatusConflict, "conflict"},
	InsufficientCapacity: {http.StatusConflict, "InsufficientCapacity"},
	LimitExceeded:        {http.StatusConflict, "limit exceeded"},
	RequestLimitExceeded: {http.StatusTooManyRequests, "request limit exceeded"},
	Unauthorized:         {http.StatusUnauthorized, "unauthenticated"},
	Forbidden:            {http.StatusForbidden, "forbidden"},
	InternalError:        {http.StatusInternalServerError, "internal error"},
}

// Error returns the code's text, e.g. "not found".
func (c Code) Error() string {
	if k, ok := codes[c]; ok {
		return k.text
	}
	return string(c)
}

// Status returns the HTTP status of the code (500 for an unknown one).
func (c Code) Status() int {
	if k, ok := codes[c]; ok {
		return k.status
	}
	return http.StatusInternalServerError
}

// APICode returns c: a Code is Coded.
func (c Code) APICode() Code { return c }

// Coded is an error that knows its Code. CodeOf finds the first one in an
// error's chain; a package whose error types only match with errors.Is
// gives them this method too.
type Coded interface {
	error
	APICode() Code
}

// Error is an error with a code: the body of every error answer
// ({"error": "...", "code": "..."}), the error the Client returns, and
// what a package declares its sentinel errors as (NewError), so that each
// keeps its own message and identity while the code says what kind it is.
type Error struct {
	Message string `json:"error"`
	Code    Code   `json:"code"`
	// Status is the HTTP status the Client got; zero on the server side.
	Status int `json:"-"`
}

// NewError returns an error of kind code that reads msg.
func NewError(code Code, msg string) *Error { return &Error{Message: msg, Code: code} }

// Error returns the message; on the Client's side, after "HTTP <status>: ".
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Message
}

// APICode returns the error's code.
func (e *Error) APICode() Code { return e.Code }

// Is makes errors.Is(err, code) true for the error's own code.
func (e *Error) Is(target error) bool { c, ok := target.(Code); return ok && c == e.Code }

// WithCode returns err, unchanged in its message and chain, with code:
// for errors of packages that cannot know the taxonomy (netcfg's
// validation, say). It returns nil for a nil err.
func WithCode(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &coded{code: code, err: err}
}

// coded is an error given a code by WithCode.
type coded struct {
	code Code
	err  error
}

func (c *coded) Error() string        { return c.err.Error() }
func (c *coded) Unwrap() error        { return c.err }
func (c *coded) APICode() Code        { return c.code }
func (c *coded) Is(target error) bool { t, ok := target.(Code); return ok && t == c.code }

// CodeOf returns the code of err: that of the outermost Coded error in its
// chain, else InternalError.
func CodeOf(err error) Code {
	var c Coded
	if errors.As(err, &c) {
		return c.APICode()
	}
	return InternalError
}
