package apiv1

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
)

// The request and response types of every route. Their JSON is the wire
// format: the server decodes and encodes exactly these, the Client sends
// and receives them, and the OpenAPI document is generated from them.

// Host is the /v1/host document: the host facts plus the SHA-256
// fingerprint of the API's TLS certificate when it serves HTTPS.
type Host struct {
	hostinfo.Host
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
}

// HostUpdateRequest is the multipart/form-data body of POST
// /v1/host/update: the UKI as a streamed file part, or a URL the host
// fetches it from (streamed too), with its SHA-256, and how many boots
// the new image gets to become healthy (default 3).
type HostUpdateRequest struct {
	UKI    []byte `json:"uki,omitempty" format:"binary"`
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256" required:"true"`
	Tries  int    `json:"tries,omitempty"`
}

// HostUpdate is the answer of POST /v1/host/update: the installed slot;
// the host reboots into it right after answering.
type HostUpdate struct {
	hostinfo.UpdateResult
	SizeBytes int64 `json:"size_bytes"`
	Rebooting bool  `json:"rebooting"`
}

// HostUpdater installs a new appliance image and schedules the reboot;
// PID 1 provides it. body is the UKI, or nil with url set.
type HostUpdater func(ctx context.Context, body io.Reader, url, sha256 string, tries int) (HostUpdate, error)

// TenantRequest is the body of POST /v1/tenants.
type TenantRequest struct {
	Name string `json:"name" required:"true"`
}

// Tenant is a tenant.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// TenantCreated is the answer of POST /v1/tenants.
type TenantCreated struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Token string `json:"token"`
}

// Token describes an API token (never its secret).
type Token struct {
	ID       string    `json:"id"`
	TenantID string    `json:"tenant_id,omitempty"`
	Admin    bool      `json:"admin,omitempty"`
	Created  time.Time `json:"created"`
}

// TokenIssued is the answer of POST /v1/tenants/{id}/tokens.
type TokenIssued struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// AccessKey describes an access key of the EC2 endpoint (AWS Signature
// Version 4), never its secret.
type AccessKey struct {
	ID       string    `json:"id"`
	TenantID string    `json:"tenant_id"`
	Created  time.Time `json:"created"`
}

// AccessKeyCreated is the answer of POST /v1/access-keys: the key and its
// secret, which is shown only this once.
type AccessKeyCreated struct {
	AccessKey
	Secret string `json:"secret"`
}

// InstanceTypeRequest is the body of POST /v1/instance-types: memory in
// bytes or in MiB, not both.
type InstanceTypeRequest struct {
	Name     string  `json:"name" required:"true"`
	VCPUs    int     `json:"vcpus" required:"true"`
	MemBytes *uint64 `json:"mem_bytes,omitempty"`
	MemMiB   *uint64 `json:"mem_mib,omitempty"`
}

// InstanceType is a size of instance.
type InstanceType struct {
	Name     string `json:"name"`
	VCPUs    int    `json:"vcpus"`
	MemBytes uint64 `json:"mem_bytes"`
	Builtin  bool   `json:"builtin"`
}

// ImageUpload is the multipart/form-data body of POST /v1/images; the
// file parts are streamed. Either a kernel (with an optional initrd and
// disk), or a cloud disk image alone (qcow2 or raw, GPT with an ext4
// root): its own kernel, initrd and root are then read from it, and
// cmdline follows root=... on the command line. SHA256 or SHA512, if
// given, must match the disk part.
type ImageUpload struct {
	Name    string `json:"name" required:"true"`
	Kernel  []byte `json:"kernel,omitempty" format:"binary"`
	Initrd  []byte `json:"initrd,omitempty" format:"binary"`
	Disk    []byte `json:"disk,omitempty" format:"binary"`
	Cmdline string `json:"cmdline,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	SHA512  string `json:"sha512,omitempty"`
}

// ImageFile describes one file of an image.
type ImageFile struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Image is an uploaded image.
type Image struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	KernelFormat string     `json:"kernel_format"` // "bzimage" or "pvh"
	Kernel       ImageFile  `json:"kernel"`
	Initrd       *ImageFile `json:"initrd,omitempty"`
	Disk         *ImageFile `json:"disk,omitempty"`
	Cmdline      string     `json:"cmdline,omitempty"`
	Created      time.Time  `json:"created"`
	// Source and Boot describe an image made from a cloud disk image.
	Source *ImageSource `json:"source,omitempty"`
	Boot   *ImageBoot   `json:"boot,omitempty"`
}

// ImageSource is the cloud disk image an image was made from, as given:
// its format ("qcow2" or "raw"), size and SHA-256, and the URL of an
// import.
type ImageSource struct {
	Format string `json:"format"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url,omitempty"`
}

// ImageBoot is what an image's own disk boots: the paths of its kernel
// and initrd in the root file system, the root= value and the root's
// partition number.
type ImageBoot struct {
	KernelPath    string `json:"kernel_path"`
	InitrdPath    string `json:"initrd_path,omitempty"`
	Root          string `json:"root"`
	RootPartition int    `json:"root_partition"`
}

// ImageImportRequest is the body of POST /v1/image-imports: fetch the
// cloud disk image at URL (http or https), check it against exactly one
// of SHA256 and SHA512 (hex), and store it as image Name.
type ImageImportRequest struct {
	Name    string `json:"name" required:"true"`
	URL     string `json:"url" required:"true"`
	SHA256  string `json:"sha256,omitempty"`
	SHA512  string `json:"sha512,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// ImageImport is an image import job. State is running, succeeded or
// failed; Phase is download, convert (qcow2 to raw) or inspect, with
// BytesDone of BytesTotal (-1 when the download's size is unknown).
type ImageImport struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	URL        string     `json:"url"`
	State      string     `json:"state"`
	Phase      string     `json:"phase"`
	BytesDone  int64      `json:"bytes_done"`
	BytesTotal int64      `json:"bytes_total"`
	Error      string     `json:"error,omitempty"`
	Code       Code       `json:"code,omitempty"`
	Image      *Image     `json:"image,omitempty"`
	Created    time.Time  `json:"created"`
	Finished   *time.Time `json:"finished,omitempty"`
}

// LaunchRequest is the body of POST /v1/instances; a missing count is 1.
type LaunchRequest struct {
	Image          string   `json:"image" required:"true"`
	Type           string   `json:"type" required:"true"`
	Count          *int     `json:"count,omitempty"`
	UserData       []byte   `json:"user_data,omitempty"` // base64 in JSON
	Network        string   `json:"network,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	KeyName        string   `json:"key_name,omitempty"`
	// HTTPTokens is the metadata service's token policy, as EC2's
	// http_tokens: "optional" (the default) or "required" (IMDSv2 only).
	HTTPTokens string `json:"http_tokens,omitempty"`
	// RootSizeGiB is the size of the root volume of an image with a disk,
	// in GiB: at least the image's disk, which is the default. The volume
	// is grown sparsely; the guest grows its partition (cloud-init's
	// growpart does).
	RootSizeGiB *int `json:"root_size_gib,omitempty"`
}

// PatchRequest is the body of PATCH /v1/instances/{id}.
type PatchRequest struct {
	Type string `json:"type" required:"true"`
}

// StopRequest is the optional body of POST /v1/instances/{id}/stop. A
// stop without force asks the guest to shut down (an ACPI power button,
// or Ctrl-Alt-Del) and forces it after TimeoutSeconds, or the
// appliance's default (30 s) when that is 0.
type StopRequest struct {
	Force          bool `json:"force"`
	TimeoutSeconds int  `json:"timeout_seconds,omitempty"`
}

// Instance is an instance (its user data is never echoed).
type Instance struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"tenant_id"`
	State          string    `json:"state"`
	Reason         string    `json:"reason"`
	Type           string    `json:"type"`
	VCPUs          int       `json:"vcpus"`
	MemBytes       uint64    `json:"mem_bytes"`
	Image          string    `json:"image"`
	IPs            []string  `json:"ips"`
	LaunchTime     time.Time `json:"launch_time"`
	CreateTime     time.Time `json:"create_time"`
	Network        string    `json:"network,omitempty"`
	SecurityGroups []string  `json:"security_groups,omitempty"`
	KeyName        string    `json:"key_name,omitempty"`
	// RootSizeBytes is the root volume's size; 0 for an image without a
	// disk.
	RootSizeBytes int64 `json:"root_size_bytes,omitempty"`
}

// ConsoleOutput is the answer of GET /v1/instances/{id}/console.
type ConsoleOutput struct {
	Output     string `json:"output"`
	NextOffset int64  `json:"next_offset"`
	// Available is false when the instance has no VMM to read from.
	Available bool `json:"available"`
}

// NetworkRequest is the body of POST /v1/networks.
type NetworkRequest struct {
	Name  string `json:"name" required:"true"`
	CIDR  string `json:"cidr" required:"true"`
	NoNAT bool   `json:"no_nat,omitempty"`
}

// Network is a tenant's subnet with its own bridge.
type Network struct {
	Name   string       `json:"name"`
	Tenant string       `json:"tenant"`
	Index  int          `json:"index"`
	CIDR   netip.Prefix `json:"cidr"`
	NoNAT  bool         `json:"no_nat"`
}

// Rule is one security-group rule: proto is tcp, udp, icmp or all;
// exactly one of cidr and group names the peer.
type Rule struct {
	Proto    string       `json:"proto"`
	FromPort uint16       `json:"from_port"`
	ToPort   uint16       `json:"to_port"`
	CIDR     netip.Prefix `json:"cidr"`
	Group    string       `json:"group"`
}

// SecurityGroupRequest is the body of POST and PUT /v1/security-groups.
type SecurityGroupRequest struct {
	Name string `json:"name" required:"true"`
	// Description is free text (at most 255 bytes); a PUT without one
	// keeps the group's.
	Description string `json:"description,omitempty"`
	Ingress     []Rule `json:"ingress"`
	Egress      []Rule `json:"egress"`
}

// SecurityGroup is a named, tenant-owned set of stateful rules.
type SecurityGroup struct {
	Name        string `json:"name"`
	Tenant      string `json:"tenant"`
	Description string `json:"description,omitempty"`
	Ingress     []Rule `json:"ingress"`
	Egress      []Rule `json:"egress"`
}

// KeyPairRequest is the body of POST /v1/key-pairs.
type KeyPairRequest struct {
	Name      string `json:"name" required:"true"`
	PublicKey string `json:"public_key" required:"true"`
}

// KeyPair is a tenant's imported SSH public key.
type KeyPair struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant_id"`
	// Type is the key's algorithm (ssh-ed25519, ssh-rsa, ecdsa-sha2-...).
	Type string `json:"type"`
	// PublicKey is the key in authorized_keys form, with its comment.
	PublicKey string `json:"public_key"`
	// Fingerprint is OpenSSH's SHA256 fingerprint (ssh-keygen -l).
	Fingerprint string    `json:"fingerprint"`
	CreateTime  time.Time `json:"create_time"`
}

// PortForwardRequest is the body of POST /v1/port-forwards.
type PortForwardRequest struct {
	Instance   string `json:"instance" required:"true"`
	Proto      string `json:"proto" required:"true"`
	PublicPort uint16 `json:"public_port" required:"true"`
	Port       uint16 `json:"port" required:"true"`
}

// PortForward forwards a public port of the host's uplink to a port of
// an instance.
type PortForward struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant_id"`
	Instance   string    `json:"instance"`
	Network    string    `json:"network"`
	Proto      string    `json:"proto"`
	PublicPort uint16    `json:"public_port"`
	Port       uint16    `json:"port"`
	CreateTime time.Time `json:"create_time"`
}

// PublicIPRequest is the body of POST /v1/public-ips: an instance to
// map the address onto, or none to hold an address for later
// (associate it with POST /v1/public-ips/{address}/associate).
type PublicIPRequest struct {
	Instance string `json:"instance,omitempty"`
}

// PublicIPAssociation is the body of POST
// /v1/public-ips/{address}/associate.
type PublicIPAssociation struct {
	Instance string `json:"instance" required:"true"`
	// Reassociate moves the address when it is associated with another
	// instance (else that is a 409).
	Reassociate bool `json:"reassociate,omitempty"`
}

// PublicIP is an address of the host's pool mapped 1:1 onto an instance.
type PublicIP struct {
	Address  netip.Addr `json:"address"`
	Tenant   string     `json:"tenant_id"`
	Instance string     `json:"instance"`
	Network  string     `json:"network"`
	// Held addresses outlive their instance (allocated for none, or
	// disassociated): Instance is empty while associated with none.
	Held       bool      `json:"held"`
	CreateTime time.Time `json:"create_time"`
}

// Usage is the answer of GET /v1/usage: metered running time over a
// window, per tenant and instance.
type Usage struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	AsOf    time.Time     `json:"as_of"`
	Tenants []TenantUsage `json:"tenants"`
}

// TenantUsage is one tenant's usage.
type TenantUsage struct {
	TenantID  string            `json:"tenant_id"`
	Total     Totals            `json:"total"`
	ByType    map[string]Totals `json:"by_type"`
	Instances []InstanceUsage   `json:"instances"`
}

// InstanceUsage is one instance's usage.
type InstanceUsage struct {
	InstanceID string            `json:"instance_id"`
	TenantID   string            `json:"tenant_id"`
	Total      Totals            `json:"total"`
	ByType     map[string]Totals `json:"by_type"`
}

// Totals is usage both exact (milliseconds) and in seconds.
type Totals struct {
	Seconds     float64 `json:"seconds"`
	VCPUSeconds float64 `json:"vcpu_seconds"`
	GiBSeconds  float64 `json:"gib_seconds"`
	RunningMs   int64   `json:"running_ms"`
	VCPUMs      int64   `json:"vcpu_ms"`
	MiBMs       int64   `json:"mib_ms"`
}
