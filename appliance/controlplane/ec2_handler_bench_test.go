package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// BenchmarkEC2DescribeHandler times DescribeInstances of 100 instances
// against GET /v1/instances on the control plane's handler itself, with
// no network and no client: the part of BenchmarkEC2Overhead's
// "inside the appliance" table that the EC2 layer owns, steady enough to
// profile (-cpuprofile). The EC2 requests are signed by the AWS SDK's
// own SigV4 signer, each with a fresh date, outside the timer.
func BenchmarkEC2DescribeHandler(b *testing.B) {
	e := newEnvCap(b, nil, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50}, func(c *Config) { c.Rate = -1 })
	id, tok := e.tenant("bench")
	e.must(200, "PUT", "/v1/tenants/"+id+"/quotas", e.admin, map[string]int{"instances": 1 << 30}, nil)
	e.tinyImage("tiny")
	var k apiv1.AccessKeyCreated
	e.must(201, "POST", "/v1/access-keys", tok, nil, &k)
	n := 100
	e.must(201, "POST", "/v1/instances", tok, apiv1.LaunchRequest{Image: "tiny", Type: "nano", Count: &n}, nil)
	h := e.cp.Handler()
	const body = "Action=DescribeInstances&Version=2016-11-15"
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
	serve := func(b *testing.B, req func() *http.Request) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := req()
			w := httptest.NewRecorder()
			b.StartTimer()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	b.Run("ec2", func(b *testing.B) {
		serve(b, func() *http.Request {
			r := httptest.NewRequest("POST", "http://appliance"+ec2.Path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			if err := signer.SignHTTP(context.Background(), creds, r, hash, "ec2", ec2.DefaultRegion, time.Now()); err != nil {
				b.Fatal(err)
			}
			return r
		})
	})
	b.Run("v1", func(b *testing.B) {
		serve(b, func() *http.Request {
			r := httptest.NewRequest("GET", "http://appliance/v1/instances", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		})
	})
}
