package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

const (
	testKey    = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var signTime = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func verifier() *Verifier {
	return &Verifier{Region: "ironvisor-1", Service: "ec2", Now: func() time.Time { return signTime },
		Secret: func(id string) (string, error) {
			if id != testKey {
				return "", ErrUnknownKey
			}
			return testSecret, nil
		}}
}

// signed returns a POST of body to target signed by the SDK's own signer
// as the EC2 client signs it (the payload hash of the form body, no
// X-Amz-Content-Sha256 header), as the server receives it.
func signed(t testing.TB, target, body, secret, region string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), "ec2", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "none"
}

// TestVerifyTheSDKSigner: what the SDK signs verifies, on / and on a
// path with a query.
func TestVerifyTheSDKSigner(t *testing.T) {
	body := "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b%2Fc"
	for _, target := range []string{"http://10.0.0.5:8080/", "http://h/ec2/", "http://h/ec2/?X=1&a=%20b&a=c~"} {
		r := signed(t, target, body, testSecret, "ironvisor-1", signTime)
		id, err := verifier().Verify(r, []byte(body))
		if err != nil || id != testKey {
			t.Fatalf("%s: %q %v", target, id, err)
		}
	}
}

// TestRefusals: each way a request can be wrong gets its code.
func TestRefusals(t *testing.T) {
	body := "Action=DescribeInstances&Version=2016-11-15"
	cases := []struct {
		name string
		req  func() (*http.Request, []byte)
		want string
	}{
		{"wrong secret", func() (*http.Request, []byte) {
			return signed(t, "http://h/", body, "not-the-secret", "ironvisor-1", signTime), []byte(body)
		}, SignatureDoesNotMatch},
		{"body changed", func() (*http.Request, []byte) {
			return signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime), []byte(body + "&InstanceId.1=i-1")
		}, SignatureDoesNotMatch},
		{"host changed", func() (*http.Request, []byte) {
			r := signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime)
			r.Host = "evil"
			return r, []byte(body)
		}, SignatureDoesNotMatch},
		{"other region", func() (*http.Request, []byte) {
			return signed(t, "http://h/", body, testSecret, "us-east-1", signTime), []byte(body)
		}, AuthFailure},
		{"stale", func() (*http.Request, []byte) {
			return signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime.Add(-6*time.Minute)), []byte(body)
		}, AuthFailure},
		{"from the future", func() (*http.Request, []byte) {
			return signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime.Add(6*time.Minute)), []byte(body)
		}, AuthFailure},
		{"unsigned", func() (*http.Request, []byte) {
			return httptest.NewRequest("POST", "http://h/", strings.NewReader(body)), []byte(body)
		}, AuthFailure},
		{"unknown key", func() (*http.Request, []byte) {
			r := signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKey, "AKIAAAAAAAAAAAAAAAAA", 1))
			return r, []byte(body)
		}, AuthFailure},
		{"date header moved", func() (*http.Request, []byte) {
			r := signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime)
			r.Header.Set("X-Amz-Date", signTime.Add(time.Second).Format(TimeFormat))
			return r, []byte(body)
		}, SignatureDoesNotMatch},
		{"host not signed", func() (*http.Request, []byte) {
			r := signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r, []byte(body)
		}, AuthFailure},
	}
	for _, c := range cases {
		r, b := c.req()
		if _, err := verifier().Verify(r, b); code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: the error shows the secret", c.name)
		}
	}
}

// TestSkewIsConfigurable: a 6-minute-old request passes a 10-minute skew.
func TestSkewIsConfigurable(t *testing.T) {
	body := "Action=DescribeRegions&Version=2016-11-15"
	v := verifier()
	v.Skew = 10 * time.Minute
	if _, err := v.Verify(signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime.Add(-6*time.Minute)), []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// FuzzCanonicalRequest: any method, path, query, headers and body
// canonicalise without a panic, the same way twice; a malformed
// Authorization header is refused as AuthFailure.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("POST", "/ec2/", "a=1&b=%20&b=x", "x-amz-date:20261206T120000Z\ncontent-type: a  b ", []byte("Action=X"), "AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request, SignedHeaders=host, Signature=00")
	f.Add("GET", "/%2F..%00", "%zz;&&=", "", []byte{}, "AWS4-HMAC-SHA256 ,,,==")
	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte, authz string) {
		r := &http.Request{Method: method, Host: "h", Header: http.Header{}, ContentLength: int64(len(body))}
		r.URL = &url.URL{Path: path, RawQuery: query}
		var signedH []string
		for _, line := range strings.Split(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && k != "" {
				r.Header.Add(k, v)
				signedH = append(signedH, strings.ToLower(k))
			}
		}
		a := CanonicalRequest(r, signedH, body)
		if b := CanonicalRequest(r, signedH, body); a != b {
			t.Fatal("not deterministic")
		}
		r.Header.Set("Authorization", authz)
		if _, err := verifier().Verify(r, body); err == nil {
			t.Fatalf("fuzzed request verified: %q", authz)
		} else if c := code(err); c != AuthFailure && c != SignatureDoesNotMatch {
			t.Fatalf("error without a code: %v", err)
		}
	})
}

// FuzzSDKSignedBody: any body the SDK signs verifies; the same request
// with one byte of the body changed does not.
func FuzzSDKSignedBody(f *testing.F) {
	f.Add("Action=RunInstances&Version=2016-11-15&UserData=aGk%3D", 3)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, body string, at int) {
		r := signed(t, "http://h/", body, testSecret, "ironvisor-1", signTime)
		if _, err := verifier().Verify(r, []byte(body)); err != nil {
			t.Fatalf("SDK-signed body %q refused: %v", body, err)
		}
		if len(body) == 0 {
			return
		}
		b := []byte(body)
		i := at % len(b)
		if i < 0 {
			i = -i
		}
		b[i] ^= 1
		if _, err := verifier().Verify(r, b); code(err) != SignatureDoesNotMatch || bytes.Equal(b, []byte(body)) {
			t.Fatalf("changed body accepted: %v", err)
		}
	})
}
