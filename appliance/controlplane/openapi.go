package controlplane

import (
	"net/http"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/version"
)

// OpenAPI builds the OpenAPI 3.0 document of every route in the table.
func (cp *ControlPlane) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range cp.routes() {
		item, _ := paths[rt.pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.pattern] = item
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt),
			"security":    []any{map[string]any{"bearer": []any{}}},
			"responses": map[string]any{
				"default": map[string]any{"description": "an error: {\"error\": \"...\", \"code\": \"...\"}"},
				"2XX":     map[string]any{"description": "success (JSON)"},
				"401":     map[string]any{"description": "no or invalid bearer token"},
			},
		}
		if rt.access == adminOnly {
			op["description"] = "admin token only (403 otherwise)"
		}
		if params := pathParams(rt.pattern); len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != "" {
			ct := "application/json"
			if rt.body == "ImageUpload" {
				ct = "multipart/form-data"
			}
			op["requestBody"] = map[string]any{"content": map[string]any{ct: map[string]any{
				"schema": map[string]any{"$ref": "#/components/schemas/" + rt.body}}}}
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "Ironvisor API", "version": version.Version},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         schemas(),
		},
	}
}

// operationID names a route, e.g. "post_v1_instances_id_stop".
func operationID(rt route) string {
	r := strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_")
	return strings.ToLower(rt.method) + r.Replace(rt.pattern)
}

// pathParams describes the {name} segments of a pattern.
func pathParams(pattern string) []any {
	var out []any
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, map[string]any{"name": seg[1 : len(seg)-1], "in": "path", "required": true,
				"schema": map[string]any{"type": "string"}})
		}
	}
	return out
}

// obj is a shorthand for an object schema with the given property types.
func obj(props map[string]string, required ...string) map[string]any {
	p := map[string]any{}
	for k, t := range props {
		switch t {
		case "string[]":
			p[k] = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		case "rule[]":
			p[k] = map[string]any{"type": "array", "items": obj(map[string]string{
				"proto": "string", "from_port": "integer", "to_port": "integer", "cidr": "string", "group": "string"})}
		case "binary":
			p[k] = map[string]any{"type": "string", "format": "binary"}
		case "byte":
			p[k] = map[string]any{"type": "string", "format": "byte"}
		default:
			p[k] = map[string]any{"type": t}
		}
	}
	s := map[string]any{"type": "object", "properties": p, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// schemas lists the request bodies the route table names.
func schemas() map[string]any {
	return map[string]any{
		"TenantRequest": obj(map[string]string{"name": "string"}, "name"),
		"InstanceType":  obj(map[string]string{"name": "string", "vcpus": "integer", "mem_mib": "integer"}, "name", "vcpus", "mem_mib"),
		"ImageUpload": obj(map[string]string{"name": "string", "kernel": "binary", "initrd": "binary",
			"disk": "binary", "cmdline": "string"}, "name", "kernel"),
		"LaunchRequest": obj(map[string]string{"image": "string", "type": "string", "count": "integer",
			"user_data": "byte", "network": "string", "security_groups": "string[]", "key_name": "string",
			"http_tokens": "string"}, "image", "type"),
		"PatchRequest":         obj(map[string]string{"type": "string"}, "type"),
		"StopRequest":          obj(map[string]string{"force": "boolean"}),
		"NetworkRequest":       obj(map[string]string{"name": "string", "cidr": "string", "no_nat": "boolean"}, "name", "cidr"),
		"SecurityGroupRequest": obj(map[string]string{"name": "string", "ingress": "rule[]", "egress": "rule[]"}, "name"),
		"PublicIPRequest":      obj(map[string]string{"instance": "string"}, "instance"),
		"KeyPairRequest":       obj(map[string]string{"name": "string", "public_key": "string"}, "name", "public_key"),
		"PortForwardRequest": obj(map[string]string{"instance": "string", "proto": "string", "public_port": "integer", "port": "integer"},
			"instance", "proto", "public_port", "port"),
	}
}

func (cp *ControlPlane) getOpenAPI(w http.ResponseWriter, r *http.Request, _ api.Params, _ auth.Principal) {
	api.JSON(w, http.StatusOK, cp.OpenAPI())
}
