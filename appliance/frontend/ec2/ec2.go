// Package ec2 is the EC2 Query-protocol front end: the endpoint that
// aws-cli, the AWS SDKs and Terraform's AWS provider use unchanged once
// pointed at it. It is a sibling of package rest: it decodes a form
// (Action=...&Version=...), authenticates the request with AWS Signature
// Version 4 against a tenant's access key (package sigv4), calls the same
// core (package domain, package orchestrator, package tags and the
// images and types services) and encodes EC2's XML answer. No logic of
// the core is copied here; what an action needs that the core lacks goes
// into the core.
//
// Wire details the SDKs are strict about: the namespace
// http://ec2.amazonaws.com/doc/2016-11-15/, a requestId in every answer,
// lists as <item>, timestamps in ISO 8601 ending in Z, and errors as
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>.
// An action this endpoint does not implement is UnsupportedOperation
// naming it, a 400: the SDKs retry 5xx answers, which looks like a hang.
//
// Core objects keep their IDs; EC2's shapes are mappings (ids.go):
// instances keep "i-...", images "img-X" are "ami-X", and security
// groups, networks (subnets), the tenant's VPC and public IPs (Elastic
// IPs), which the core names rather than numbers, get stable IDs hashed
// from the tenant and the name.
package ec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/core/tags"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2/sigv4"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/ratelimit"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// Namespace is the XML namespace of every answer.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// DefaultRegion is the region name the endpoint answers as when the
// configuration names none.
const DefaultRegion = "ironvisor-1"

// Path is where the control plane mounts the endpoint on the management
// listener: clients use https://HOST:PORT/ec2/ as their endpoint URL.
const Path = "/ec2/"

// MaxBody bounds a request's form body: RunInstances with 16 KiB of user
// data in base64 and its other parameters fits many times over.
const MaxBody = 256 << 10

// Config is the core the front end calls.
type Config struct {
	Keys    *auth.AccessKeys
	Catalog *types.Catalog
	Images  *images.Store
	Domain  *domain.Domain
	Orch    *orchestrator.Orchestrator
	Tags    *tags.Store
	// Limit is the request rate limit of each access key, shared with the
	// native API; nil is no limit.
	Limit *ratelimit.Limiter
	// Region names the appliance as one region; its one zone is Region
	// followed by "a". Empty means DefaultRegion.
	Region string
	// Skew is the allowed clock skew of a signed request; zero means
	// sigv4.DefaultSkew.
	Skew time.Duration
	// Now may be nil for time.Now.
	Now func() time.Time
	// Log, if set, gets one line per refused or failed request (never a
	// secret or a signature).
	Log *log.Logger
}

// Server is the EC2 front end.
type Server struct {
	cfg     Config
	actions map[string]action
	// sts are the actions of requests signed for STS (sts.go).
	sts map[string]action
}

// call is one authenticated request: its parameters and who sent it.
type call struct {
	ctx context.Context
	who auth.Principal
	p   params
	// host is the Host the client sent, for DescribeRegions' endpoint.
	host string
}

// action handles one Action and returns its answer, a struct whose
// fields are the answer's elements (it embeds head).
type action func(c call) (any, error)

// New returns the front end over cfg.
func New(cfg Config) *Server {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg}
	s.actions = s.table()
	s.sts = s.stsActions()
	return s
}

// Region returns the region name the endpoint answers as.
func (s *Server) Region() string { return s.cfg.Region }

// zone is the one availability zone.
func (s *Server) zone() string { return s.cfg.Region + "a" }

// head carries the requestId of every answer; each answer embeds it.
type head struct {
	RequestID string `xml:"requestId"`
}

func (h *head) setRequestID(id string) { h.RequestID = id }

// identified is an answer with a requestId.
type identified interface{ setRequestID(string) }

// ServeHTTP answers one Query request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	action, out, err := s.serve(r)
	if err != nil {
		s.fail(w, r, reqID, action, err)
		return
	}
	if a, ok := out.(identified); ok {
		a.setRequestID(reqID)
	}
	bp := getAnswerBuf()
	buf := append(*bp, xml.Header...)
	var body []byte
	switch o := out.(type) {
	case fastXML:
		buf = appendWrapped(buf, action+"Response", o)
	case *callerIdentityResponse:
		body, err = xml.Marshal(out)
	default:
		body, err = xml.Marshal(wrapped{name: action + "Response", v: out})
	}
	if err != nil {
		putAnswerBuf(bp, buf)
		s.fail(w, r, reqID, action, fmt.Errorf("encode answer: %w", err))
		return
	}
	buf = append(buf, body...)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.Write(buf)
	putAnswerBuf(bp, buf)
}

// wrapped marshals v as the element name with EC2's namespace.
type wrapped struct {
	name string
	v    any
}

// MarshalXML writes <name xmlns="...">fields of v</name>.
func (x wrapped) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Local: x.name}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}}}
	return e.EncodeElement(x.v, start)
}

// serve authenticates, decodes and runs the request.
func (s *Server) serve(r *http.Request) (string, any, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return "", nil, &ec2Error{Code: "InvalidAction", Message: "use POST or GET", Status: http.StatusMethodNotAllowed}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return "", nil, invalidValue("read body: %v", err)
	}
	if len(body) > MaxBody {
		return "", nil, &ec2Error{Code: "InvalidParameterValue", Message: fmt.Sprintf("body larger than %d bytes", MaxBody), Status: http.StatusRequestEntityTooLarge}
	}
	who, service, err := s.authenticate(r, body)
	if err != nil {
		return "", nil, err
	}
	if ok, _ := s.cfg.Limit.Allow(who.TokenID); !ok {
		ratelimit.Hold(r.Context())
		return "", nil, &ec2Error{Code: "RequestLimitExceeded", Status: http.StatusServiceUnavailable,
			Message: fmt.Sprintf("Request limit exceeded: this access key's rate is %g requests a second (burst %g).", s.cfg.Limit.Rate(), s.cfg.Limit.Burst())}
	}
	form, err := s.form(r, body)
	if err != nil {
		return "", nil, err
	}
	p, err := decodeParams(form)
	if err != nil {
		return "", nil, err
	}
	name := p.str("Action")
	if name == "" {
		return "", nil, missing("Action")
	}
	table := s.actions
	if service == stsService {
		table = s.sts
	}
	act, ok := table[name]
	if !ok {
		return name, nil, newError("UnsupportedOperation", "The action %s is not supported by this endpoint.", trim(name, 64))
	}
	out, err := act(call{ctx: r.Context(), who: who, p: p, host: r.Host})
	return name, out, err
}

// form returns the request's parameters: the query, and for a POST the
// form-encoded body.
func (s *Server) form(r *http.Request, body []byte) (url.Values, error) {
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidValue("query: %v", err)
	}
	if r.Method != http.MethodPost || len(body) == 0 {
		return form, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, invalidValue("Content-Type %q: want application/x-www-form-urlencoded", trim(ct, 64))
		}
	}
	bf, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidValue("body: %v", err)
	}
	for k, v := range bf {
		form[k] = append(form[k], v...)
	}
	return form, nil
}

// authenticate verifies the request's signature and returns the tenant
// its access key belongs to and the service it was signed for: ec2, or
// sts (sts.go).
func (s *Server) authenticate(r *http.Request, body []byte) (auth.Principal, string, error) {
	var who auth.Principal
	v := sigv4.Verifier{Region: s.cfg.Region, Service: "ec2", Also: []string{stsService}, Skew: s.cfg.Skew, Now: s.cfg.Now,
		Secret: func(id string) (string, error) {
			secret, p, err := s.cfg.Keys.Secret(id)
			who = p
			return secret, err
		}}
	sc, err := v.VerifyScope(r, body)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return who, "", &ec2Error{Code: se.Code, Message: se.Message, Status: http.StatusUnauthorized}
		}
		return who, "", err
	}
	return who, sc.Service, nil
}

// errorResponse is EC2's error document.
type errorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []errorDoc `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type errorDoc struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// fail answers err in EC2's error format, or STS's to a request signed
// for STS.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, reqID, action string, err error) {
	e := asEC2(err)
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if s.cfg.Log != nil {
		s.cfg.Log.Printf("ec2 %s %s: %s (%d)", reqID, trim(action, 64), e.Code, status)
	}
	b, _ := xml.Marshal(errorResponse{Errors: []errorDoc{{Code: e.Code, Message: e.Message}}, RequestID: reqID})
	if stsScoped(r) {
		b, _ = stsError(e, reqID)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(status)
	w.Write(append([]byte(xml.Header), b...))
}

// asEC2 maps an error onto EC2's codes: an ec2Error is itself; a core
// error by its apiv1 code (an action that knows which object it was about
// maps NotFound and AlreadyExists first, with object.err).
func asEC2(err error) *ec2Error {
	var e *ec2Error
	if errors.As(err, &e) {
		return e
	}
	msg := err.Error()
	switch apiv1.CodeOf(err) {
	case apiv1.InvalidParameter:
		return newError("InvalidParameterValue", "%s", msg)
	case apiv1.NotFound:
		return newError("InvalidParameterValue", "%s", msg)
	case apiv1.AlreadyExists:
		return newError("InvalidParameterValue", "%s", msg)
	case apiv1.InUse:
		return newError("DependencyViolation", "%s", msg)
	case apiv1.IncorrectState:
		return newError("IncorrectInstanceState", "%s", msg)
	case apiv1.InsufficientCapacity:
		return &ec2Error{Code: "InsufficientInstanceCapacity", Message: msg, Status: http.StatusInternalServerError}
	case apiv1.LimitExceeded:
		return newError("ResourceLimitExceeded", "%s", msg)
	case apiv1.Unauthorized:
		return &ec2Error{Code: "AuthFailure", Message: msg, Status: http.StatusUnauthorized}
	case apiv1.Forbidden:
		return &ec2Error{Code: "UnauthorizedOperation", Message: msg, Status: http.StatusForbidden}
	}
	return &ec2Error{Code: "InternalError", Message: "An internal error has occurred", Status: http.StatusInternalServerError}
}

// object names the EC2 codes of one kind of object.
type object struct {
	notFound, duplicate, inUse string
}

// The kinds of objects and their codes.
var (
	instanceObj = object{notFound: "InvalidInstanceID.NotFound"}
	imageObj    = object{notFound: "InvalidAMIID.NotFound"}
	groupObj    = object{notFound: "InvalidGroup.NotFound", duplicate: "InvalidGroup.Duplicate", inUse: "DependencyViolation"}
	keyPairObj  = object{notFound: "InvalidKeyPair.NotFound", duplicate: "InvalidKeyPair.Duplicate"}
	subnetObj   = object{notFound: "InvalidSubnetID.NotFound", duplicate: "InvalidSubnet.Conflict", inUse: "DependencyViolation"}
	addressObj  = object{notFound: "InvalidAllocationID.NotFound"}
)

// err maps a core error about an object of this kind.
func (o object) err(err error) error {
	if err == nil {
		return nil
	}
	var e *ec2Error
	if errors.As(err, &e) {
		return e
	}
	switch c := apiv1.CodeOf(err); {
	case c == apiv1.NotFound && o.notFound != "":
		return newError(o.notFound, "%s", err.Error())
	case c == apiv1.AlreadyExists && o.duplicate != "":
		return newError(o.duplicate, "%s", err.Error())
	case c == apiv1.InUse && o.inUse != "":
		return newError(o.inUse, "%s", err.Error())
	}
	return err
}

// newRequestID returns a random ID in the UUID layout EC2 uses.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// trim bounds a client-controlled string echoed in a message.
func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// ts formats a time as EC2 does: ISO 8601, milliseconds, Z.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// RefuseStranger answers a request that ratelimit.Strangers refused (its
// client address sent too many requests with an unknown access key or a
// bad signature): RequestLimitExceeded, which the SDKs retry with
// backoff.
func (s *Server) RefuseStranger(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	ratelimit.SetRetryAfter(w, wait)
	s.fail(w, r, newRequestID(), "", &ec2Error{Code: "RequestLimitExceeded", Status: http.StatusServiceUnavailable,
		Message: "Request limit exceeded: too many failed authentications from this address."})
}
