package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// presigned returns a GET of query at target presigned by the SDK's own
// signer for expires, as a client hands the URL around.
func presigned(t testing.TB, query string, expires time.Duration, service string, at time.Time) *http.Request {
	t.Helper()
	q, _ := url.ParseQuery(query)
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	r := httptest.NewRequest("GET", "http://h/ec2/?"+q.Encode(), nil)
	sum := sha256.Sum256(nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		r, hex.EncodeToString(sum[:]), service, "ironvisor-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewRequest("GET", u, nil)
}

// TestPresigned: a URL presigned by the SDK verifies until X-Amz-Date
// plus X-Amz-Expires and is refused as expired after it, whatever the
// skew; a changed parameter, an absent or out-of-range X-Amz-Expires, a
// date ahead of the clock and another service's scope are refused.
func TestPresigned(t *testing.T) {
	const query = "Action=DescribeInstances&Version=2016-11-15"
	v := verifier()
	r := presigned(t, query, 60*time.Second, "ec2", signTime)
	if !strings.Contains(r.URL.RawQuery, "X-Amz-Signature=") || r.Header.Get("Authorization") != "" {
		t.Fatalf("not presigned: %s", r.URL)
	}
	if sc, err := v.VerifyScope(r, nil); err != nil || sc.KeyID != testKey || !sc.Presigned || sc.Service != "ec2" {
		t.Fatalf("presigned URL refused: %+v %v", sc, err)
	}
	// Valid through its whole life, expired one second after.
	v.Now = func() time.Time { return signTime.Add(60 * time.Second) }
	if _, err := v.Verify(r, nil); err != nil {
		t.Fatalf("at its last second: %v", err)
	}
	v.Now = func() time.Time { return signTime.Add(61 * time.Second) }
	if _, err := v.Verify(r, nil); code(err) != AuthFailure || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired URL: %v", err)
	}
	// A long X-Amz-Expires outlives the skew.
	v.Now = func() time.Time { return signTime.Add(2 * time.Hour) }
	if _, err := v.Verify(presigned(t, query, 3*time.Hour, "ec2", signTime), nil); err != nil {
		t.Fatalf("3 h URL after 2 h: %v", err)
	}
	v.Now = func() time.Time { return signTime }
	if _, err := v.Verify(presigned(t, query, time.Minute, "ec2", signTime.Add(10*time.Minute)), nil); code(err) != AuthFailure {
		t.Fatalf("dated ahead: %v", err)
	}
	if _, err := v.Verify(presigned(t, query, 8*24*time.Hour, "ec2", signTime), nil); code(err) != AuthFailure {
		t.Fatalf("X-Amz-Expires past 7 days: %v", err)
	}
	if _, err := v.Verify(presigned(t, query, time.Minute, "s3", signTime), nil); code(err) != AuthFailure {
		t.Fatalf("another service: %v", err)
	}
	v.Also = []string{"sts"}
	if sc, err := v.VerifyScope(presigned(t, query, time.Minute, "sts", signTime), nil); err != nil || sc.Service != "sts" {
		t.Fatalf("an Also service: %+v %v", sc, err)
	}

	tampered := *r.URL
	tampered.RawQuery = strings.Replace(r.URL.RawQuery, "DescribeInstances", "TerminateInstances", 1)
	if _, err := v.Verify(httptest.NewRequest("GET", tampered.String(), nil), nil); code(err) != SignatureDoesNotMatch {
		t.Fatalf("tampered action: %v", err)
	}
	q := r.URL.Query()
	q.Del("X-Amz-Expires")
	if _, err := v.Verify(httptest.NewRequest("GET", "http://h/ec2/?"+q.Encode(), nil), nil); code(err) != AuthFailure {
		t.Fatalf("no X-Amz-Expires: %v", err)
	}
	q = r.URL.Query()
	q.Set("X-Amz-Expires", "-5")
	if _, err := v.Verify(httptest.NewRequest("GET", "http://h/ec2/?"+q.Encode(), nil), nil); code(err) != AuthFailure {
		t.Fatalf("negative X-Amz-Expires: %v", err)
	}
}

// FuzzPresignedQuery: a fuzzed query string with no Authorization header
// never verifies and never panics.
func FuzzPresignedQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261206%2Fironvisor-1%2Fec2%2Faws4_request&X-Amz-Date=20261206T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64))
	f.Add("X-Amz-Signature=&X-Amz-Expires=99999999999999999999")
	f.Add("%zz&X-Amz-Signature=1;;")
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{Method: "GET", Host: "h", Header: http.Header{}, URL: &url.URL{Path: "/ec2/", RawQuery: query}}
		if _, err := verifier().Verify(r, nil); err == nil {
			t.Fatalf("fuzzed query verified: %q", query)
		}
	})
}
