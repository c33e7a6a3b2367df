package ratelimit

import (
	"testing"
	"time"
)

// TestBucketPerToken: a token gets its burst, then one request per
// 1/rate, and another token's bucket is untouched by the first's flood.
func TestBucketPerToken(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(10, 5, func() time.Time { return now })
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow("flood"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("flood")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("past the burst: allowed %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("quiet"); !ok {
		t.Fatal("another token was refused for the first's flood")
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.Allow("flood"); !ok {
		t.Fatal("no request after 1/rate")
	}
	if ok, _ := l.Allow("flood"); ok {
		t.Fatal("two requests after 1/rate")
	}
	if New(-1, 0, time.Now) != nil {
		t.Fatal("a negative rate still limits")
	}
}

// TestFullBucketsAreForgotten: the limiter's memory is bounded by the
// tokens in use, not by every token ever seen.
func TestFullBucketsAreForgotten(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(10, 5, func() time.Time { return now })
	for i := 0; i < maxIdleBuckets; i++ {
		l.Allow(string(rune(i)))
	}
	now = now.Add(time.Second)
	l.Allow("new")
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
}
