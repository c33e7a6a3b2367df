package controlplane

import (
	"net/http"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// access says who may call a route.
type access int

const (
	anyone    access = iota // any valid token
	adminOnly               // the admin token only
)

// handler is a routed handler that knows its caller.
type handler func(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal)

// route is one row of the route table.
type route struct {
	method, pattern string
	summary         string
	access          access
	// object is the path parameter naming a tenant-owned object, if any;
	// the auth matrix test uses it.
	object string
	// body names the request schema for the OpenAPI document.
	body string
	h    handler
}

// routes is the whole API. Everything else (router, auth, OpenAPI) is
// generated from it.
func (cp *ControlPlane) routes() []route {
	return []route{
		{"GET", "/v1/host", "the host document, with the TLS fingerprint", anyone, "", "", cp.getHost},
		{"GET", "/v1/openapi.json", "this API, as OpenAPI 3.0", anyone, "", "", cp.getOpenAPI},
		{"GET", "/metrics", "Prometheus metrics", adminOnly, "", "", cp.getMetrics},
		{"GET", "/v1/tenants", "list tenants", adminOnly, "", "", cp.listTenants},
		{"POST", "/v1/tenants", "create a tenant and its first token", adminOnly, "", "TenantRequest", cp.createTenant},
		{"GET", "/v1/tenants/{id}/tokens", "list a tenant's tokens", anyone, "id", "", cp.listTokens},
		{"POST", "/v1/tenants/{id}/tokens", "issue another token", anyone, "id", "", cp.issueToken},
		{"DELETE", "/v1/tenants/{id}/tokens/{token_id}", "revoke a token", anyone, "id", "", cp.revokeToken},
		{"GET", "/v1/instance-types", "list instance types", anyone, "", "", cp.listTypes},
		{"POST", "/v1/instance-types", "add an instance type", adminOnly, "", "InstanceType", cp.addType},
		{"GET", "/v1/images", "list images", anyone, "", "", cp.listImages},
		{"POST", "/v1/images", "upload an image (multipart: name, kernel, initrd, disk, cmdline)", adminOnly, "", "ImageUpload", cp.uploadImage},
		{"GET", "/v1/images/{id}", "describe an image", anyone, "", "", cp.getImage},
		{"DELETE", "/v1/images/{id}", "delete an image", adminOnly, "", "", cp.deleteImage},
		{"GET", "/v1/instances", "list instances", anyone, "", "", cp.listInstances},
		{"POST", "/v1/instances", "launch instances", anyone, "", "LaunchRequest", cp.launch},
		{"GET", "/v1/instances/{id}", "describe an instance", anyone, "id", "", cp.getInstance},
		{"PATCH", "/v1/instances/{id}", "change the type of a stopped instance", anyone, "id", "PatchRequest", cp.patchInstance},
		{"DELETE", "/v1/instances/{id}", "terminate an instance", anyone, "id", "", cp.terminate},
		{"POST", "/v1/instances/{id}/stop", "stop an instance", anyone, "id", "StopRequest", cp.stop},
		{"POST", "/v1/instances/{id}/start", "start a stopped instance", anyone, "id", "", cp.start},
		{"POST", "/v1/instances/{id}/reboot", "reboot a running instance", anyone, "id", "", cp.reboot},
		{"GET", "/v1/instances/{id}/console", "serial console output (?offset=&max=)", anyone, "id", "", cp.console},
		{"GET", "/v1/networks", "list networks", anyone, "", "", cp.listNetworks},
		{"POST", "/v1/networks", "create a network", anyone, "", "NetworkRequest", cp.createNetwork},
		{"GET", "/v1/networks/{name}", "describe a network", anyone, "name", "", cp.getNetwork},
		{"DELETE", "/v1/networks/{name}", "delete a network", anyone, "name", "", cp.deleteNetwork},
		{"GET", "/v1/security-groups", "list security groups", anyone, "", "", cp.listGroups},
		{"POST", "/v1/security-groups", "create a security group", anyone, "", "SecurityGroupRequest", cp.createGroup},
		{"GET", "/v1/security-groups/{name}", "describe a security group", anyone, "name", "", cp.getGroup},
		{"PUT", "/v1/security-groups/{name}", "replace a security group's rules", anyone, "name", "SecurityGroupRequest", cp.putGroup},
		{"DELETE", "/v1/security-groups/{name}", "delete a security group", anyone, "name", "", cp.deleteGroup},
		{"GET", "/v1/key-pairs", "list SSH key pairs (public keys)", anyone, "", "", cp.listKeyPairs},
		{"POST", "/v1/key-pairs", "import an SSH public key by name", anyone, "", "KeyPairRequest", cp.importKeyPair},
		{"GET", "/v1/key-pairs/{name}", "describe a key pair", anyone, "name", "", cp.getKeyPair},
		{"DELETE", "/v1/key-pairs/{name}", "delete a key pair (instances keep their key)", anyone, "name", "", cp.deleteKeyPair},
		{"GET", "/v1/port-forwards", "list port forwards", anyone, "", "", cp.listForwards},
		{"POST", "/v1/port-forwards", "forward a public port of the host's uplink to an instance's port", anyone, "", "PortForwardRequest", cp.createForward},
		{"GET", "/v1/port-forwards/{id}", "describe a port forward", anyone, "id", "", cp.getForward},
		{"DELETE", "/v1/port-forwards/{id}", "delete a port forward", anyone, "id", "", cp.deleteForward},
		{"GET", "/v1/public-ips", "list public IPs", anyone, "", "", cp.listPublicIPs},
		{"POST", "/v1/public-ips", "give an instance a public IP from the host's pool (1:1 NAT)", anyone, "", "PublicIPRequest", cp.allocatePublicIP},
		{"GET", "/v1/public-ips/{address}", "describe a public IP", anyone, "address", "", cp.getPublicIP},
		{"DELETE", "/v1/public-ips/{address}", "release a public IP to the pool", anyone, "address", "", cp.releasePublicIP},
		{"GET", "/v1/usage", "usage over ?from=&to= (RFC 3339 or Unix seconds)", anyone, "", "", cp.usage},
	}
}

// guard authenticates the request and enforces the route's access.
func (cp *ControlPlane) guard(rt route) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p api.Params) {
		who, err := cp.auth.Authenticate(r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ironvisor"`)
			api.Error(w, http.StatusUnauthorized, "missing or invalid bearer token (Authorization: Bearer <token>)")
			cp.metrics.request(rt, http.StatusUnauthorized)
			return
		}
		if rt.access == adminOnly && !who.Admin {
			api.Error(w, http.StatusForbidden, "this needs the admin token")
			cp.metrics.request(rt, http.StatusForbidden)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rt.h(sw, r, p, who)
		cp.metrics.request(rt, sw.status)
	}
}

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
