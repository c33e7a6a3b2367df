package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// The EC2 endpoint driven by the AWS SDK for Go v2, as a user's program
// would drive it: a custom endpoint, a tenant's access key, the SDK's own
// waiters. recRunner stands in for the VMMs (instances reach running).

// sdkClient returns an SDK client for the endpoint with a new access key
// of tok's tenant, and the key.
func (e *env) sdkClient(tok string) (*awsec2.Client, apiv1.AccessKeyCreated) {
	e.t.Helper()
	var k apiv1.AccessKeyCreated
	e.must(201, "POST", "/v1/access-keys", tok, nil, &k)
	return e.sdkWith(k.ID, k.Secret), k
}

// sdkHTTP returns the test server's HTTP client for the SDK, with the
// request bodies' WriteTo hidden. smithy-go closes a request's body as
// soon as the response has come, and a closed body's WriteTo answers
// io.EOF where it should answer (0, nil). When a loopback server answers
// before net/http's write loop has drained the body (io.Copy to discard,
// which uses WriteTo), the loop takes that EOF for a write error and
// closes the connection under the response the SDK is reading: "use of
// closed network connection", in about one DescribeInstances paginator
// run of seven with -race. With WriteTo hidden the drain is a Read, which
// answers EOF as it should. The SDK's default retryer retries such a
// failure; these clients do not retry, so that refusals show at once.
func sdkHTTP(srv *httptest.Server) *http.Client {
	c := *srv.Client()
	c.Transport = readOnlyBodies{c.Transport}
	return &c
}

// readOnlyBodies is the RoundTripper of sdkHTTP.
type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.Body = struct{ io.ReadCloser }{r.Body}
	return t.next.RoundTrip(r2)
}

// sdkWith returns an SDK client signing with id and secret; it does not
// retry, so a refusal shows at once.
func (e *env) sdkWith(id, secret string) *awsec2.Client {
	return awsec2.New(awsec2.Options{
		Region:           ec2.DefaultRegion,
		BaseEndpoint:     aws.String(e.srv.URL + ec2.Path),
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient:       sdkHTTP(e.srv),
		RetryMaxAttempts: 1,
	})
}

// apiCode returns the EC2 error code of err, "" for none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// fast makes a waiter poll every few milliseconds instead of 15 s.
func fast[T any](min, max *time.Duration) {
	*min, *max = 20*time.Millisecond, 100*time.Millisecond
}

func TestEC2SDKInstanceLifecycle(t *testing.T) {
	e := newEnv(t, &recRunner{started: map[string]orchestrator.RunSpec{}})
	_, aTok := e.tenant("alice")
	_, bTok := e.tenant("bob")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(aTok)
	bob, _ := e.sdkClient(bTok)
	ctx := context.Background()

	imgs, err := c.DescribeImages(ctx, &awsec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) != 1 || !strings.HasPrefix(*imgs.Images[0].ImageId, "ami-") {
		t.Fatalf("DescribeImages: %+v %v", imgs, err)
	}
	run, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{
		ImageId: imgs.Images[0].ImageId, InstanceType: "nano", MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}},
	})
	if err != nil || len(run.Instances) != 1 {
		t.Fatalf("RunInstances: %v", err)
	}
	id := *run.Instances[0].InstanceId
	if run.Instances[0].State.Name != ec2types.InstanceStateNamePending || *run.Instances[0].State.Code != 0 {
		t.Fatalf("launched in %+v", run.Instances[0].State)
	}
	ids := &awsec2.DescribeInstancesInput{InstanceIds: []string{id}}
	running := awsec2.NewInstanceRunningWaiter(c, func(o *awsec2.InstanceRunningWaiterOptions) { fast[int](&o.MinDelay, &o.MaxDelay) })
	if err := running.Wait(ctx, ids, 20*time.Second); err != nil {
		t.Fatalf("InstanceRunningWaiter: %v", err)
	}
	d, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:Name"), Values: []string{"web"}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
		{Name: aws.String("instance-type"), Values: []string{"nano"}}}})
	if err != nil || len(d.Reservations) != 1 || *d.Reservations[0].Instances[0].State.Code != 16 ||
		d.Reservations[0].Instances[0].LaunchTime == nil {
		t.Fatalf("DescribeInstances with filters: %+v %v", d, err)
	}

	// Another tenant's keys neither see nor stop it.
	if d, err := bob.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}); err != nil || len(d.Reservations) != 0 {
		t.Fatalf("bob sees %+v %v", d, err)
	}
	if _, err := bob.DescribeInstances(ctx, ids); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("bob describes alice's instance: %v", err)
	}
	if _, err := bob.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("bob stops alice's instance: %v", err)
	}
	if _, err := bob.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("bob terminates alice's instance: %v", err)
	}

	micro := &awsec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), InstanceType: &ec2types.AttributeValue{Value: aws.String("micro")}}
	if _, err := c.ModifyInstanceAttribute(ctx, micro); apiCode(err) != "IncorrectInstanceState" {
		t.Fatalf("resize while running: %v", err)
	}
	if _, err := c.StopInstances(ctx, &awsec2.StopInstancesInput{InstanceIds: []string{id}, Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	stopped := awsec2.NewInstanceStoppedWaiter(c, func(o *awsec2.InstanceStoppedWaiterOptions) { fast[int](&o.MinDelay, &o.MaxDelay) })
	if err := stopped.Wait(ctx, ids, 20*time.Second); err != nil {
		t.Fatalf("InstanceStoppedWaiter: %v", err)
	}
	if _, err := c.ModifyInstanceAttribute(ctx, micro); err != nil {
		t.Fatalf("resize while stopped: %v", err)
	}
	if _, err := c.StartInstances(ctx, &awsec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := running.Wait(ctx, ids, 20*time.Second); err != nil {
		t.Fatalf("running again: %v", err)
	}
	if d, err := c.DescribeInstances(ctx, ids); err != nil || d.Reservations[0].Instances[0].InstanceType != "micro" {
		t.Fatalf("after resize: %v", err)
	}
	st, err := c.DescribeInstanceStatus(ctx, &awsec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})
	if err != nil || len(st.InstanceStatuses) != 1 || st.InstanceStatuses[0].InstanceState.Name != "running" {
		t.Fatalf("DescribeInstanceStatus: %+v %v", st, err)
	}
	out, err := c.GetConsoleOutput(ctx, &awsec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if text, err := base64.StdEncoding.DecodeString(*out.Output); err != nil || !strings.Contains(string(text), "hello from "+id) {
		t.Fatalf("console %q %v", *out.Output, err)
	}
	if _, err := c.RebootInstances(ctx, &awsec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatalf("reboot: %v", err)
	}
	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	terminated := awsec2.NewInstanceTerminatedWaiter(c, func(o *awsec2.InstanceTerminatedWaiterOptions) { fast[int](&o.MinDelay, &o.MaxDelay) })
	if err := terminated.Wait(ctx, ids, 20*time.Second); err != nil {
		t.Fatalf("InstanceTerminatedWaiter: %v", err)
	}
	// Terminating again is no error, as on EC2.
	if _, err := c.TerminateInstances(ctx, &awsec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
}

// TestEC2Pagination: the SDK's paginator walks every instance once, its
// tokens never repeating.
func TestEC2Pagination(t *testing.T) {
	e := newEnvCap(t, nil, types.Host{CPUs: 16, MemBytes: 4 * types.GiB})
	_, tok := e.tenant("alice")
	e.tinyImage("tiny")
	c, _ := e.sdkClient(tok)
	ctx := context.Background()
	if _, err := c.RunInstances(ctx, &awsec2.RunInstancesInput{ImageId: aws.String("tiny"), InstanceType: "nano",
		MinCount: aws.Int32(12), MaxCount: aws.Int32(12)}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	pages := 0
	p := awsec2.NewDescribeInstancesPaginator(c, &awsec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				if seen[*in.InstanceId] {
					t.Fatalf("%s twice", *in.InstanceId)
				}
				seen[*in.InstanceId] = true
			}
		}
	}
	if len(seen) != 12 || pages != 3 {
		t.Fatalf("%d instances in %d pages", len(seen), pages)
	}
}

// signedPost posts body to the endpoint signed by the SDK's signer with
// id and secret at time at, and returns the status and answer.
func (e *env) signedPost(id, secret, body string, at time.Time) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+ec2.Path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "ec2", ec2.DefaultRegion, at); err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEC2Refusals: a wrong secret, a skewed clock, a stale (replayed)
// request, a deleted key and an unsigned request are refused with EC2's
// codes, before any action runs; an unknown action is UnsupportedOperation
// naming it, never a 5xx.
func TestEC2Refusals(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.tenant("alice")
	_, k := e.sdkClient(tok)
	ctx := context.Background()
	if _, err := e.sdkWith(k.ID, k.Secret+"x").DescribeInstances(ctx, &awsec2.DescribeInstancesInput{}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	body := "Action=DescribeInstances&Version=2016-11-15"
	now := time.Now()
	for _, c := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"good", now, "<DescribeInstancesResponse"},
		{"clock 10 minutes ahead", now.Add(10 * time.Minute), "<Code>AuthFailure</Code>"},
		{"signed 6 minutes ago (replayed too late)", now.Add(-6 * time.Minute), "<Code>AuthFailure</Code>"},
	} {
		code, out := e.signedPost(k.ID, k.Secret, body, c.at)
		if !strings.Contains(out, c.want) || (c.want[1] == 'C') != (code == 401) {
			t.Errorf("%s: %d %s", c.name, code, out)
		}
	}
	code, out := e.signedPost(k.ID, k.Secret, "Action=DescribeSpotFleets&Version=2016-11-15", now)
	if code != 400 || !strings.Contains(out, "<Code>UnsupportedOperation</Code>") || !strings.Contains(out, "DescribeSpotFleets") ||
		!strings.Contains(out, "<RequestID>") {
		t.Fatalf("unknown action: %d %s", code, out)
	}
	resp, err := e.srv.Client().Post(e.srv.URL+ec2.Path, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	e.must(204, "DELETE", "/v1/access-keys/"+k.ID, tok, nil, nil)
	if code, out := e.signedPost(k.ID, k.Secret, body, now); code != 401 || !strings.Contains(out, "AuthFailure") {
		t.Fatalf("deleted key: %d %s", code, out)
	}
}

// TestEC2RateLimitPerKey: the EC2 endpoint shares the native API's
// per-credential rate limit, so a tenant cannot flood through /ec2/ what
// /v1 refuses: past its access key's burst a request gets EC2's
// RequestLimitExceeded (503, which the SDKs back off on), and another
// tenant's key is still served.
func TestEC2RateLimitPerKey(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Rate, c.Burst = 0.5, 3 })
	_, ta := e.tenant("alice")
	_, tb := e.tenant("bob")
	var ka, kb apiv1.AccessKeyCreated
	e.must(201, "POST", "/v1/access-keys", ta, nil, &ka)
	e.must(201, "POST", "/v1/access-keys", tb, nil, &kb)
	body := "Action=DescribeInstances&Version=2016-11-15"
	for i := 0; i < 3; i++ {
		if code, out := e.signedPost(ka.ID, ka.Secret, body, time.Now()); code != 200 {
			t.Fatalf("request %d of the burst: %d %s", i, code, out)
		}
	}
	code, out := e.signedPost(ka.ID, ka.Secret, body, time.Now())
	if code != 503 || !strings.Contains(out, "<Code>RequestLimitExceeded</Code>") {
		t.Fatalf("past the burst: %d %s", code, out)
	}
	if code, out := e.signedPost(kb.ID, kb.Secret, body, time.Now()); code != 200 {
		t.Fatalf("another tenant's key: %d %s", code, out)
	}
}
