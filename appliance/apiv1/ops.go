package apiv1

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"time"
)

// The typed methods of Client, one per route (a test checks that they
// cover Routes). Each returns the route's answer type.

// call calls route key with in and params and decodes the answer as a T.
func call[T any](ctx context.Context, c *Client, key string, in any, params ...string) (T, error) {
	var out T
	err := c.Do(ctx, key, params, nil, in, &out)
	return out, err
}

// Host returns the host document.
func (c *Client) Host(ctx context.Context) (Host, error) {
	return call[Host](ctx, c, "GET /v1/host", nil)
}

// OpenAPI returns the API's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (map[string]any, error) {
	return call[map[string]any](ctx, c, "GET /v1/openapi.json", nil)
}

// Metrics returns the Prometheus metrics as text (admin).
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var b []byte
	err := c.Do(ctx, "GET /metrics", nil, nil, nil, &b)
	return string(b), err
}

// Tenants lists the tenants (admin).
func (c *Client) Tenants(ctx context.Context) ([]Tenant, error) {
	return call[[]Tenant](ctx, c, "GET /v1/tenants", nil)
}

// CreateTenant creates a tenant and its first token (admin).
func (c *Client) CreateTenant(ctx context.Context, q TenantRequest) (TenantCreated, error) {
	return call[TenantCreated](ctx, c, "POST /v1/tenants", q)
}

// Tokens lists tenant's tokens.
func (c *Client) Tokens(ctx context.Context, tenant string) ([]Token, error) {
	return call[[]Token](ctx, c, "GET /v1/tenants/{id}/tokens", nil, tenant)
}

// IssueToken issues another token of tenant.
func (c *Client) IssueToken(ctx context.Context, tenant string) (TokenIssued, error) {
	return call[TokenIssued](ctx, c, "POST /v1/tenants/{id}/tokens", nil, tenant)
}

// RevokeToken revokes tenant's token id.
func (c *Client) RevokeToken(ctx context.Context, tenant, id string) error {
	return c.Do(ctx, "DELETE /v1/tenants/{id}/tokens/{token_id}", []string{tenant, id}, nil, nil, nil)
}

// AccessKeys lists the caller's access keys.
func (c *Client) AccessKeys(ctx context.Context) ([]AccessKey, error) {
	return call[[]AccessKey](ctx, c, "GET /v1/access-keys", nil)
}

// CreateAccessKey creates an access key; its secret is in the answer only.
func (c *Client) CreateAccessKey(ctx context.Context) (AccessKeyCreated, error) {
	return call[AccessKeyCreated](ctx, c, "POST /v1/access-keys", nil)
}

// DeleteAccessKey deletes access key id.
func (c *Client) DeleteAccessKey(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE /v1/access-keys/{id}", []string{id}, nil, nil, nil)
}

// InstanceTypes lists the instance types.
func (c *Client) InstanceTypes(ctx context.Context) ([]InstanceType, error) {
	return call[[]InstanceType](ctx, c, "GET /v1/instance-types", nil)
}

// AddInstanceType adds an instance type (admin).
func (c *Client) AddInstanceType(ctx context.Context, q InstanceTypeRequest) (InstanceType, error) {
	return call[InstanceType](ctx, c, "POST /v1/instance-types", q)
}

// Images lists the images.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	return call[[]Image](ctx, c, "GET /v1/images", nil)
}

// UpdateHost installs a new appliance image (admin): the UKI read from r,
// streamed, or with r nil the one the host fetches from q.URL; either is
// checked against q.SHA256. The host reboots into it after answering.
func (c *Client) UpdateHost(ctx context.Context, q HostUpdateRequest, r io.Reader) (HostUpdate, error) {
	fields := map[string]string{"sha256": q.SHA256}
	if q.Tries != 0 {
		fields["tries"] = strconv.Itoa(q.Tries)
	}
	if q.URL != "" {
		fields["url"] = q.URL
	}
	var out HostUpdate
	err := c.uploadStream(ctx, "POST /v1/host/update", fields, "uki", "uki.efi", r, &out)
	return out, err
}

// UploadImage uploads an image from files (admin); initrd and disk may
// be empty.
func (c *Client) UploadImage(ctx context.Context, name, cmdline, kernel, initrd, disk string) (Image, error) {
	fields, files := map[string]string{"name": name}, map[string]string{"kernel": kernel}
	if cmdline != "" {
		fields["cmdline"] = cmdline
	}
	for k, v := range map[string]string{"initrd": initrd, "disk": disk} {
		if v != "" {
			files[k] = v
		}
	}
	var img Image
	err := c.Upload(ctx, fields, files, &img)
	return img, err
}

// ImportImage starts importing a cloud disk image from a URL (admin);
// poll the job with ImageImport.
func (c *Client) ImportImage(ctx context.Context, q ImageImportRequest) (ImageImport, error) {
	return call[ImageImport](ctx, c, "POST /v1/image-imports", q)
}

// ImageImports lists the image import jobs the appliance remembers.
func (c *Client) ImageImports(ctx context.Context) ([]ImageImport, error) {
	return call[[]ImageImport](ctx, c, "GET /v1/image-imports", nil)
}

// ImageImport returns image import job id.
func (c *Client) ImageImport(ctx context.Context, id string) (ImageImport, error) {
	return call[ImageImport](ctx, c, "GET /v1/image-imports/{id}", nil, id)
}

// Image describes image id (or name).
func (c *Client) Image(ctx context.Context, id string) (Image, error) {
	return call[Image](ctx, c, "GET /v1/images/{id}", nil, id)
}

// DeleteImage deletes image id (admin).
func (c *Client) DeleteImage(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE /v1/images/{id}", []string{id}, nil, nil, nil)
}

// Instances lists the instances.
func (c *Client) Instances(ctx context.Context) ([]Instance, error) {
	return call[[]Instance](ctx, c, "GET /v1/instances", nil)
}

// Launch launches instances.
func (c *Client) Launch(ctx context.Context, q LaunchRequest) ([]Instance, error) {
	return call[[]Instance](ctx, c, "POST /v1/instances", q)
}

// Instance describes instance id.
func (c *Client) Instance(ctx context.Context, id string) (Instance, error) {
	return call[Instance](ctx, c, "GET /v1/instances/{id}", nil, id)
}

// InstanceWait describes instance id like Instance, but while it is in
// state while it waits up to wait (the server caps it at 30s) for it to
// leave that state, and answers as soon as it does. An answer still in
// while means the wait ended; call again.
func (c *Client) InstanceWait(ctx context.Context, id, while string, wait time.Duration) (Instance, error) {
	q := url.Values{"while": {while}, "wait": {wait.String()}}
	var out Instance
	err := c.Do(ctx, "GET /v1/instances/{id}", []string{id}, q, nil, &out)
	return out, err
}

// Resize changes the type of stopped instance id.
func (c *Client) Resize(ctx context.Context, id string, q PatchRequest) (Instance, error) {
	return call[Instance](ctx, c, "PATCH /v1/instances/{id}", q, id)
}

// Terminate terminates instance id.
func (c *Client) Terminate(ctx context.Context, id string) (Instance, error) {
	return call[Instance](ctx, c, "DELETE /v1/instances/{id}", nil, id)
}

// Stop stops instance id.
func (c *Client) Stop(ctx context.Context, id string, q StopRequest) (Instance, error) {
	return call[Instance](ctx, c, "POST /v1/instances/{id}/stop", q, id)
}

// Start starts stopped instance id.
func (c *Client) Start(ctx context.Context, id string) (Instance, error) {
	return call[Instance](ctx, c, "POST /v1/instances/{id}/start", nil, id)
}

// Reboot reboots running instance id.
func (c *Client) Reboot(ctx context.Context, id string) (Instance, error) {
	return call[Instance](ctx, c, "POST /v1/instances/{id}/reboot", nil, id)
}

// Console reads up to max bytes (0: the server's default) of instance
// id's console from offset off.
func (c *Client) Console(ctx context.Context, id string, off int64, max int) (ConsoleOutput, error) {
	q := url.Values{}
	if off != 0 {
		q.Set("offset", itoa(off))
	}
	if max != 0 {
		q.Set("max", itoa(int64(max)))
	}
	var out ConsoleOutput
	err := c.Do(ctx, "GET /v1/instances/{id}/console", []string{id}, q, nil, &out)
	return out, err
}

// Networks lists the networks.
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	return call[[]Network](ctx, c, "GET /v1/networks", nil)
}

// CreateNetwork creates a network.
func (c *Client) CreateNetwork(ctx context.Context, q NetworkRequest) (Network, error) {
	return call[Network](ctx, c, "POST /v1/networks", q)
}

// Network describes network name.
func (c *Client) Network(ctx context.Context, name string) (Network, error) {
	return call[Network](ctx, c, "GET /v1/networks/{name}", nil, name)
}

// DeleteNetwork deletes network name.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE /v1/networks/{name}", []string{name}, nil, nil, nil)
}

// SecurityGroups lists the security groups.
func (c *Client) SecurityGroups(ctx context.Context) ([]SecurityGroup, error) {
	return call[[]SecurityGroup](ctx, c, "GET /v1/security-groups", nil)
}

// CreateSecurityGroup creates a security group.
func (c *Client) CreateSecurityGroup(ctx context.Context, q SecurityGroupRequest) (SecurityGroup, error) {
	return call[SecurityGroup](ctx, c, "POST /v1/security-groups", q)
}

// SecurityGroup describes security group name.
func (c *Client) SecurityGroup(ctx context.Context, name string) (SecurityGroup, error) {
	return call[SecurityGroup](ctx, c, "GET /v1/security-groups/{name}", nil, name)
}

// PutSecurityGroup replaces the rules of security group q.Name.
func (c *Client) PutSecurityGroup(ctx context.Context, q SecurityGroupRequest) (SecurityGroup, error) {
	return call[SecurityGroup](ctx, c, "PUT /v1/security-groups/{name}", q, q.Name)
}

// DeleteSecurityGroup deletes security group name.
func (c *Client) DeleteSecurityGroup(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE /v1/security-groups/{name}", []string{name}, nil, nil, nil)
}

// KeyPairs lists the key pairs.
func (c *Client) KeyPairs(ctx context.Context) ([]KeyPair, error) {
	return call[[]KeyPair](ctx, c, "GET /v1/key-pairs", nil)
}

// ImportKeyPair imports a public key by name.
func (c *Client) ImportKeyPair(ctx context.Context, q KeyPairRequest) (KeyPair, error) {
	return call[KeyPair](ctx, c, "POST /v1/key-pairs", q)
}

// KeyPair describes key pair name.
func (c *Client) KeyPair(ctx context.Context, name string) (KeyPair, error) {
	return call[KeyPair](ctx, c, "GET /v1/key-pairs/{name}", nil, name)
}

// DeleteKeyPair deletes key pair name.
func (c *Client) DeleteKeyPair(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE /v1/key-pairs/{name}", []string{name}, nil, nil, nil)
}

// PortForwards lists the port forwards.
func (c *Client) PortForwards(ctx context.Context) ([]PortForward, error) {
	return call[[]PortForward](ctx, c, "GET /v1/port-forwards", nil)
}

// CreatePortForward forwards a public port to an instance's port.
func (c *Client) CreatePortForward(ctx context.Context, q PortForwardRequest) (PortForward, error) {
	return call[PortForward](ctx, c, "POST /v1/port-forwards", q)
}

// PortForward describes port forward id.
func (c *Client) PortForward(ctx context.Context, id string) (PortForward, error) {
	return call[PortForward](ctx, c, "GET /v1/port-forwards/{id}", nil, id)
}

// DeletePortForward deletes port forward id.
func (c *Client) DeletePortForward(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE /v1/port-forwards/{id}", []string{id}, nil, nil, nil)
}

// PublicIPs lists the public IPs.
func (c *Client) PublicIPs(ctx context.Context) ([]PublicIP, error) {
	return call[[]PublicIP](ctx, c, "GET /v1/public-ips", nil)
}

// AllocatePublicIP gives an instance a public IP.
func (c *Client) AllocatePublicIP(ctx context.Context, q PublicIPRequest) (PublicIP, error) {
	return call[PublicIP](ctx, c, "POST /v1/public-ips", q)
}

// PublicIP describes public IP address.
func (c *Client) PublicIP(ctx context.Context, address string) (PublicIP, error) {
	return call[PublicIP](ctx, c, "GET /v1/public-ips/{address}", nil, address)
}

// AssociatePublicIP maps public IP address onto an instance.
func (c *Client) AssociatePublicIP(ctx context.Context, address string, q PublicIPAssociation) (PublicIP, error) {
	return call[PublicIP](ctx, c, "POST /v1/public-ips/{address}/associate", q, address)
}

// DisassociatePublicIP unmaps public IP address from its instance.
func (c *Client) DisassociatePublicIP(ctx context.Context, address string) (PublicIP, error) {
	return call[PublicIP](ctx, c, "POST /v1/public-ips/{address}/disassociate", nil, address)
}

// ReleasePublicIP releases public IP address.
func (c *Client) ReleasePublicIP(ctx context.Context, address string) error {
	return c.Do(ctx, "DELETE /v1/public-ips/{address}", []string{address}, nil, nil, nil)
}

// Usage returns the usage over [from, to] (RFC 3339 or Unix seconds;
// empty for the defaults).
func (c *Client) Usage(ctx context.Context, from, to string) (Usage, error) {
	var out Usage
	err := c.Do(ctx, "GET /v1/usage", nil, url.Values{"from": {from}, "to": {to}}, nil, &out)
	return out, err
}

// itoa formats n in decimal.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
