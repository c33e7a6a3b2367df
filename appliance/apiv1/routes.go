package apiv1

// Access says who may call a route. The HTTP layer enforces it before any
// handler runs; no handler checks a token by hand.
type Access int

const (
	// AccessPublic routes need no token. None of /v1 is public today; the
	// host-only API that PID 1 serves before the control plane is.
	AccessPublic Access = iota
	// AccessTenant routes need a valid token: a tenant's (its own objects) or
	// the admin's (every tenant's).
	AccessTenant
	// AccessAdmin routes need the admin token (403 otherwise).
	AccessAdmin
)

// String names the access level.
func (a Access) String() string {
	switch a {
	case AccessPublic:
		return "public"
	case AccessTenant:
		return "tenant"
	case AccessAdmin:
		return "admin"
	}
	return "unknown"
}

// Route is one operation of the API: its method and path pattern (Go
// 1.22 ServeMux syntax, {name} for a segment), who may call it, and the
// types of its body and answer.
type Route struct {
	Method, Pattern string
	Summary         string
	Access          Access
	// Object is the path parameter naming a tenant-owned object, if any:
	// another tenant's object answers 404.
	Object string
	// Request is a zero value of the body's type; nil for no body.
	Request any
	// Response is a zero value of the answer's type; nil for no JSON
	// answer (204, or the text of /metrics).
	Response any
	// Multipart says the body is multipart/form-data, not JSON.
	Multipart bool
}

// Routes is the whole API, one row per operation. The server's mux, its
// access checks, the OpenAPI document and the Client's paths all come
// from it.
func Routes() []Route {
	return []Route{
		{"GET", "/v1/host", "the host document, with the TLS fingerprint", AccessTenant, "", nil, Host{}, false},
		{"POST", "/v1/host/update", "install a new appliance image (UKI, multipart: uki or url, sha256, tries) into the boot slot that did not boot and reboot into it; it rolls back unless healthy in time", AccessAdmin, "", HostUpdateRequest{}, HostUpdate{}, true},
		{"GET", "/v1/openapi.json", "this API, as OpenAPI 3.0", AccessTenant, "", nil, map[string]any{}, false},
		{"GET", "/metrics", "Prometheus metrics", AccessAdmin, "", nil, nil, false},
		{"GET", "/v1/tenants", "list tenants", AccessAdmin, "", nil, []Tenant{}, false},
		{"POST", "/v1/tenants", "create a tenant and its first token", AccessAdmin, "", TenantRequest{}, TenantCreated{}, false},
		{"GET", "/v1/tenants/{id}/tokens", "list a tenant's tokens", AccessTenant, "id", nil, []Token{}, false},
		{"POST", "/v1/tenants/{id}/tokens", "issue another token", AccessTenant, "id", nil, TokenIssued{}, false},
		{"DELETE", "/v1/tenants/{id}/tokens/{token_id}", "revoke a token", AccessTenant, "id", nil, nil, false},
		{"GET", "/v1/tenants/{id}/quotas", "a tenant's quotas", AccessTenant, "id", nil, Quotas{}, false},
		{"PUT", "/v1/tenants/{id}/quotas", "change a tenant's quotas (those left out keep their value)", AccessAdmin, "", QuotasRequest{}, Quotas{}, false},
		{"GET", "/v1/instance-types", "list instance types", AccessTenant, "", nil, []InstanceType{}, false},
		{"POST", "/v1/instance-types", "add an instance type", AccessAdmin, "", InstanceTypeRequest{}, InstanceType{}, false},
		{"GET", "/v1/images", "list images", AccessTenant, "", nil, []Image{}, false},
		{"POST", "/v1/images", "upload an image (multipart: name, kernel, initrd, disk, cmdline, sha256, sha512); a disk alone is a cloud disk image", AccessAdmin, "", ImageUpload{}, Image{}, true},
		{"GET", "/v1/images/{id}", "describe an image", AccessTenant, "", nil, Image{}, false},
		{"DELETE", "/v1/images/{id}", "delete an image no instance uses", AccessAdmin, "", nil, nil, false},
		{"GET", "/v1/image-imports", "list image import jobs", AccessAdmin, "", nil, []ImageImport{}, false},
		{"POST", "/v1/image-imports", "import a cloud disk image from a URL, checked by its digest", AccessAdmin, "", ImageImportRequest{}, ImageImport{}, false},
		{"GET", "/v1/image-imports/{id}", "an image import job's progress", AccessAdmin, "", nil, ImageImport{}, false},
		{"GET", "/v1/instances", "list instances", AccessTenant, "", nil, []Instance{}, false},
		{"POST", "/v1/instances", "launch instances", AccessTenant, "", LaunchRequest{}, []Instance{}, false},
		{"GET", "/v1/instances/{id}", "describe an instance (?while=STATE&wait=DURATION, wait a Go duration up to 30s: long-poll until it leaves STATE)", AccessTenant, "id", nil, Instance{}, false},
		{"PATCH", "/v1/instances/{id}", "change the type of a stopped instance", AccessTenant, "id", PatchRequest{}, Instance{}, false},
		{"DELETE", "/v1/instances/{id}", "terminate an instance", AccessTenant, "id", nil, Instance{}, false},
		{"POST", "/v1/instances/{id}/stop", "stop an instance", AccessTenant, "id", StopRequest{}, Instance{}, false},
		{"POST", "/v1/instances/{id}/start", "start a stopped instance", AccessTenant, "id", nil, Instance{}, false},
		{"POST", "/v1/instances/{id}/reboot", "reboot a running instance", AccessTenant, "id", nil, Instance{}, false},
		{"GET", "/v1/instances/{id}/console", "serial console output (?offset=&max=&wait=, wait a Go duration up to 30s: long-poll for output past offset)", AccessTenant, "id", nil, ConsoleOutput{}, false},
		{"POST", "/v1/instances/{id}/console", "type into a running instance's serial console (data in base64)", AccessTenant, "id", ConsoleInput{}, ConsoleInputResult{}, false},
		{"GET", "/v1/networks", "list networks", AccessTenant, "", nil, []Network{}, false},
		{"POST", "/v1/networks", "create a network", AccessTenant, "", NetworkRequest{}, Network{}, false},
		{"GET", "/v1/networks/{name}", "describe a network", AccessTenant, "name", nil, Network{}, false},
		{"DELETE", "/v1/networks/{name}", "delete a network", AccessTenant, "name", nil, nil, false},
		{"GET", "/v1/security-groups", "list security groups", AccessTenant, "", nil, []SecurityGroup{}, false},
		{"POST", "/v1/security-groups", "create a security group", AccessTenant, "", SecurityGroupRequest{}, SecurityGroup{}, false},
		{"GET", "/v1/security-groups/{name}", "describe a security group", AccessTenant, "name", nil, SecurityGroup{}, false},
		{"PUT", "/v1/security-groups/{name}", "replace a security group's rules", AccessTenant, "name", SecurityGroupRequest{}, SecurityGroup{}, false},
		{"DELETE", "/v1/security-groups/{name}", "delete a security group", AccessTenant, "name", nil, nil, false},
		{"GET", "/v1/key-pairs", "list SSH key pairs (public keys)", AccessTenant, "", nil, []KeyPair{}, false},
		{"POST", "/v1/key-pairs", "import an SSH public key by name", AccessTenant, "", KeyPairRequest{}, KeyPair{}, false},
		{"GET", "/v1/key-pairs/{name}", "describe a key pair", AccessTenant, "name", nil, KeyPair{}, false},
		{"DELETE", "/v1/key-pairs/{name}", "delete a key pair (instances keep their key)", AccessTenant, "name", nil, nil, false},
		{"GET", "/v1/port-forwards", "list port forwards", AccessTenant, "", nil, []PortForward{}, false},
		{"POST", "/v1/port-forwards", "forward a public port of the host's uplink to an instance's port", AccessTenant, "", PortForwardRequest{}, PortForward{}, false},
		{"GET", "/v1/port-forwards/{id}", "describe a port forward", AccessTenant, "id", nil, PortForward{}, false},
		{"DELETE", "/v1/port-forwards/{id}", "delete a port forward", AccessTenant, "id", nil, nil, false},
		{"GET", "/v1/public-ips", "list public IPs", AccessTenant, "", nil, []PublicIP{}, false},
		{"POST", "/v1/public-ips", "give an instance a public IP from the host's pool (1:1 NAT), or hold one for none (no instance)", AccessTenant, "", PublicIPRequest{}, PublicIP{}, false},
		{"GET", "/v1/public-ips/{address}", "describe a public IP", AccessTenant, "address", nil, PublicIP{}, false},
		{"POST", "/v1/public-ips/{address}/associate", "map a held public IP onto an instance", AccessTenant, "address", PublicIPAssociation{}, PublicIP{}, false},
		{"POST", "/v1/public-ips/{address}/disassociate", "unmap a public IP from its instance; it stays the tenant's (held)", AccessTenant, "address", nil, PublicIP{}, false},
		{"DELETE", "/v1/public-ips/{address}", "release a public IP to the pool", AccessTenant, "address", nil, nil, false},
		{"GET", "/v1/access-keys", "list the caller's access keys for the EC2 endpoint (never their secrets)", AccessTenant, "", nil, []AccessKey{}, false},
		{"POST", "/v1/access-keys", "create an access key for the EC2 endpoint; its secret is shown only this once", AccessTenant, "", nil, AccessKeyCreated{}, false},
		{"DELETE", "/v1/access-keys/{id}", "delete an access key", AccessTenant, "id", nil, nil, false},
		{"GET", "/v1/usage", "usage over ?from=&to= (RFC 3339 or Unix seconds)", AccessTenant, "", nil, Usage{}, false},
		{"GET", "/v1/rack/machines", "list the rack's machines this box network-boots, with their leases", AccessAdmin, "", nil, []RackMachine{}, false},
		{"GET", "/v1/rack/machines/{mac}", "describe a rack machine (?check=true: call its API over the rack network)", AccessAdmin, "", nil, RackMachine{}, false},
		{"PUT", "/v1/rack/machines/{mac}", "set the configuration a rack machine boots with", AccessAdmin, "", RackMachineRequest{}, RackMachine{}, false},
		{"DELETE", "/v1/rack/machines/{mac}", "forget a rack machine's configuration and lease", AccessAdmin, "", nil, nil, false},
	}
}

// Key is how a route is named in tables: "METHOD PATTERN", which is also
// its ServeMux pattern.
func (r Route) Key() string { return r.Method + " " + r.Pattern }
