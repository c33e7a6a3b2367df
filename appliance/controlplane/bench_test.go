package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// BenchmarkAPILatency measures launch and describe latency over HTTP with
// 50 concurrent clients (issue 5's performance section) and reports p50
// and p99 of each. b.N is the number of launches.
func BenchmarkAPILatency(b *testing.B) {
	// One token launches as fast as it can: no rate limit, no quota.
	e := newEnvCap(b, nil, types.Host{CPUs: 1 << 20, MemBytes: 1 << 50}, func(c *Config) { c.Rate = -1 })
	id, tok := e.tenant("bench")
	e.must(200, "PUT", "/v1/tenants/"+id+"/quotas", e.admin, map[string]int{"instances": 1 << 30}, nil)
	e.tinyImage("tiny")
	const clients = 50
	var mu sync.Mutex
	var launch, describe []time.Duration
	work := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				l, id, err := timedLaunch(e, tok)
				if err != nil {
					errs <- err
					return
				}
				d, err := timed(e, "GET", "/v1/instances/"+id, tok, "")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				launch, describe = append(launch, l), append(describe, d)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	for name, ds := range map[string][]time.Duration{"launch": launch, "describe": describe} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
}

// timed sends one request and returns its latency; it fails unless 2xx.
func timed(e *env, method, path, tok, body string) (time.Duration, error) {
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	return time.Since(start), nil
}

// timedLaunch launches one nano instance and returns the latency and ID.
func timedLaunch(e *env, tok string) (time.Duration, string, error) {
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/instances", strings.NewReader(`{"image":"tiny","type":"nano"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	d := time.Since(start)
	var out []apiv1.Instance
	if resp.StatusCode != 201 {
		return 0, "", fmt.Errorf("launch: %d", resp.StatusCode)
	}
	if err := jsonDecode(resp, &out); err != nil || len(out) != 1 {
		return 0, "", fmt.Errorf("launch answer: %v", err)
	}
	return d, out[0].ID, nil
}

// jsonDecode decodes a response body.
func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
