package apiv1

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestOpenAPIFromContractTypes checks, for every route, that the OpenAPI
// document describes it, and that its body and answer schemas are the
// ones reflected from the route's contract types, down to every component
// they refer to: no schema is written by hand, so none can drift.
func TestOpenAPIFromContractTypes(t *testing.T) {
	doc := OpenAPI("test")
	b, err := json.Marshal(doc) // the document must be JSON
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, rt := range Routes() {
		op := got.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if op == nil {
			t.Errorf("%s: not in the document", rt.Key())
			continue
		}
		if op["operationId"] != OperationID(rt) || op["x-access"] != rt.Access.String() {
			t.Errorf("%s: operation %v, access %v", rt.Key(), op["operationId"], op["x-access"])
		}
		if _, secured := op["security"]; secured != (rt.Access != AccessPublic) {
			t.Errorf("%s: security %v for access %s", rt.Key(), op["security"], rt.Access)
		}
		ct := "application/json"
		if rt.Multipart {
			ct = "multipart/form-data"
		}
		checkSchema(t, rt.Key()+" body", rt.Request, op, []string{"requestBody", "content", ct, "schema"}, want)
		checkSchema(t, rt.Key()+" answer", rt.Response, op, []string{"responses", "2XX", "content", "application/json", "schema"}, want)
	}
	want["Error"] = SchemaOf(reflect.TypeFor[Error](), want)
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got.Components.Schemas)
	if string(wantJSON) != string(gotJSON) {
		t.Errorf("component schemas differ from the contract types:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	for _, name := range []string{"LaunchRequest", "Instance", "SecurityGroupRequest", "Rule", "Host", "HostinfoCPU", "TimelineReport", "Usage", "Totals"} {
		if _, ok := got.Components.Schemas[name]; !ok {
			t.Errorf("no component %s", name)
		}
	}
}

// checkSchema compares the schema found at path in op with the one
// reflected from v (nil: there must be none).
func checkSchema(t *testing.T, what string, v any, op map[string]any, path []string, comps map[string]any) {
	t.Helper()
	var cur any = op
	for _, k := range path {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	if v == nil {
		if cur != nil {
			t.Errorf("%s: a schema %v for no type", what, cur)
		}
		return
	}
	want, _ := json.Marshal(SchemaOf(reflect.TypeOf(v), comps))
	got, _ := json.Marshal(cur)
	if string(got) != string(want) {
		t.Errorf("%s: schema %s, want %s", what, got, want)
	}
}

// TestSchemaOf pins how Go types map to schemas: required and format
// tags, pointers, embedded structs inlined, named structs as components.
func TestSchemaOf(t *testing.T) {
	comps := map[string]any{}
	if s, _ := json.Marshal(SchemaOf(reflect.TypeFor[LaunchRequest](), comps)); string(s) != `{"$ref":"#/components/schemas/LaunchRequest"}` {
		t.Fatalf("ref %s", s)
	}
	lr, _ := json.Marshal(comps["LaunchRequest"])
	for _, frag := range []string{`"required":["image","type"]`, `"count":{"type":"integer"}`,
		`"user_data":{"format":"byte","type":"string"}`, `"security_groups":{"items":{"type":"string"},"type":"array"}`,
		`"additionalProperties":false`} {
		if !strings.Contains(string(lr), frag) {
			t.Errorf("LaunchRequest schema %s lacks %s", lr, frag)
		}
	}
	SchemaOf(reflect.TypeFor[ImageUpload](), comps)
	SchemaOf(reflect.TypeFor[Host](), comps)
	up, _ := json.Marshal(comps["ImageUpload"])
	host, _ := json.Marshal(comps["Host"])
	if !strings.Contains(string(up), `"kernel":{"format":"binary","type":"string"}`) {
		t.Errorf("ImageUpload %s", up)
	}
	if !strings.Contains(string(host), `"tls_fingerprint"`) || !strings.Contains(string(host), `"hostname"`) {
		t.Errorf("Host does not inline hostinfo.Host: %s", host)
	}
}
