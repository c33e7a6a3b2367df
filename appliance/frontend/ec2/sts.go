package ec2

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// STS on the same endpoint: a request whose credential scope names the
// service "sts" (aws sts ... --endpoint-url URL/ec2/, or Terraform's
// AWS provider with endpoints { sts = ... }) is answered in the STS Query
// protocol (version 2011-06-15): its namespace, a ...Result element and
// ResponseMetadata, and errors as <ErrorResponse>. It has one action,
// GetCallerIdentity: the tenant as the account, the access key as the
// user.

// STSNamespace is the XML namespace of every STS answer.
const STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// stsService is the service of an STS credential scope.
const stsService = "sts"

type stsMetadata struct {
	RequestID string `xml:"RequestId"`
}

type callerIdentity struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type callerIdentityResponse struct {
	XMLName  xml.Name       `xml:"GetCallerIdentityResponse"`
	NS       string         `xml:"xmlns,attr"`
	Result   callerIdentity `xml:"GetCallerIdentityResult"`
	Metadata stsMetadata    `xml:"ResponseMetadata"`
}

// setRequestID puts the request ID where STS has it.
func (r *callerIdentityResponse) setRequestID(id string) { r.Metadata.RequestID = id }

// stsActions are the STS actions answered.
func (s *Server) stsActions() map[string]action {
	return map[string]action{"GetCallerIdentity": s.getCallerIdentity}
}

func (s *Server) getCallerIdentity(c call) (any, error) {
	return &callerIdentityResponse{NS: STSNamespace, Result: callerIdentity{
		Arn: "arn:aws:iam::" + c.who.TenantID + ":user/" + c.who.TokenID, UserID: c.who.TokenID, Account: c.who.TenantID}}, nil
}

// stsScoped guesses, before verifying, whether r is signed for STS, so
// that a refusal is in the protocol its client parses.
func stsScoped(r *http.Request) bool {
	const scope = "/" + stsService + "/aws4_request"
	return strings.Contains(r.Header.Get("Authorization"), scope) ||
		strings.Contains(r.URL.RawQuery, strings.ReplaceAll(scope, "/", "%2F"))
}

type stsErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	NS        string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// stsError is the body of a refused STS request.
func stsError(e *ec2Error, reqID string) ([]byte, error) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	return xml.Marshal(stsErrorResponse{NS: STSNamespace, Type: typ, Code: e.Code, Message: e.Message, RequestID: reqID})
}
