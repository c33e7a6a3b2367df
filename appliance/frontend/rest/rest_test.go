package rest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// TestEveryRouteHasOneHandler: the server serves exactly the contract's
// route table, each route bound once; New would panic otherwise.
func TestEveryRouteHasOneHandler(t *testing.T) {
	s, err := New(Config{Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range s.Handler().Routes() {
		served[r.Method+" "+r.Pattern] = true
	}
	for _, rt := range apiv1.Routes() {
		if !served[rt.Key()] {
			t.Errorf("%s is not served", rt.Key())
		}
		delete(served, rt.Key())
	}
	for k := range served {
		t.Errorf("%s is served but not in the contract", k)
	}
	if len(s.handlers()) != len(apiv1.Routes()) {
		t.Errorf("%d handlers for %d routes", len(s.handlers()), len(apiv1.Routes()))
	}
}
