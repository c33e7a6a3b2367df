// Package config holds the appliance configuration: its schema, its
// defaults, validation with errors that name the key and the bad value, and
// the sources it is read from (a JSON file, a JSON document at a URL and
// the kernel command line; see url.go for their order).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Uplink modes: how the appliance gets its management address.
const (
	UplinkDHCP   = "dhcp"   // ask a DHCP server (RFC 2131)
	UplinkStatic = "static" // use Address, Gateway and DNS as given
)

// DefaultAPI is the address the appliance API listens on when none is set.
const DefaultAPI = ":8080"

// DefaultHostname is the hostname used when none is set.
const DefaultHostname = "ironvisor"

// DataTmpfs is the data source that keeps the appliance's state in RAM (a
// tmpfs): nothing survives a reboot.
const DataTmpfs = "tmpfs"

// DataAuto is the default data source: the appliance's own data partition
// (GPT type Ironvisor data, named ivdata, as the flashed disk image
// carries it) if exactly one disk has one, made and grown on first boot
// while it is blank; else a tmpfs. No other disk or partition is ever
// formatted or taken over unless the operator names it.
const DataAuto = "auto"

// Kinds of data source, as returned by ParseData.
const (
	DataKindAuto   = "auto"   // the own data partition if there is one, else RAM
	DataKindTmpfs  = "tmpfs"  // state in RAM
	DataKindLabel  = "label"  // a file system found by its label
	DataKindUUID   = "uuid"   // a file system found by its UUID
	DataKindDevice = "device" // a block device path under /dev
)

// Config is the appliance configuration. The zero value of a field means
// "not set"; Defaults fills the fields that have a default. Each field
// names the kernel command-line key and the JSON field it comes from.
type Config struct {
	// Hostname is ironvisor.hostname / "hostname": an RFC 1123 host name.
	Hostname string `json:"hostname,omitempty"`
	// Uplink is ironvisor.uplink / "uplink": UplinkDHCP or UplinkStatic.
	Uplink string `json:"uplink,omitempty"`
	// Address is ironvisor.address / "address": the uplink address in CIDR
	// form; only with UplinkStatic, where it is required.
	Address string `json:"address,omitempty"`
	// Gateway is ironvisor.gateway / "gateway": the default route's next
	// hop; only with UplinkStatic. Empty means no default route.
	Gateway string `json:"gateway,omitempty"`
	// DNS is ironvisor.dns (comma separated) / "dns": name servers written
	// to /etc/resolv.conf. With DHCP, a non-empty DNS overrides the lease's.
	DNS []string `json:"dns,omitempty"`
	// API is ironvisor.api / "api": HOST:PORT the HTTP API listens on. An
	// empty host means every address.
	API string `json:"api,omitempty"`
	// Modules is ironvisor.modules (comma separated) / "modules": kernel
	// modules loaded in addition to the built-in list.
	Modules []string `json:"modules,omitempty"`
	// Iface is ironvisor.iface / "iface": the uplink interface. Empty means
	// the first ethernet interface with carrier that gets a DHCP lease.
	Iface string `json:"iface,omitempty"`
	// Data is ironvisor.data / "data": where the appliance keeps its state
	// (store, images, volumes, TLS identity, admin token). DataAuto or ""
	// (the default) uses the disk's own data partition, else RAM;
	// DataTmpfs keeps it in RAM; "LABEL=NAME", "UUID=UUID" or "/dev/NAME"
	// name an existing ext4 or btrfs file system to mount. See ParseData.
	Data string `json:"data,omitempty"`
	// CPUOvercommit is ironvisor.cpu_overcommit / "cpu_overcommit": how
	// many vCPUs instances may have per host CPU, a decimal from 1 to
	// MaxOvercommit ("" means 1: no overcommit). Memory is never
	// overcommitted. See ParseOvercommit.
	CPUOvercommit string `json:"cpu_overcommit,omitempty"`
	// PublicIPs is ironvisor.public_ips / "public_ips": extra IPv4
	// addresses routed to this host's uplink that instances may take 1:1
	// (POST /v1/public-ips), as a comma-separated list of addresses and
	// prefixes (at most MaxPublicIPs in all). See ParsePublicIPs.
	PublicIPs string `json:"public_ips,omitempty"`
	// GuestBlocked is ironvisor.guest_blocked / "guest_blocked": the
	// networks guests may not reach through the host, as a comma-separated
	// list of IPv4 prefixes and the word "uplink" (the uplink's own
	// subnets: the management LAN). "" means "uplink"; "none" blocks
	// nothing. See ParseGuestBlocked.
	GuestBlocked string `json:"guest_blocked,omitempty"`
	// EC2Region is ironvisor.ec2_region / "ec2_region": the region name the
	// EC2 endpoint answers as and clients sign for: lower-case letters,
	// digits and dashes, at most 32. "" means "ironvisor-1".
	EC2Region string `json:"ec2_region,omitempty"`
	// EC2ClockSkew is ironvisor.ec2_clock_skew / "ec2_clock_skew": how far
	// a signed EC2 request's date may be from the host's clock, a Go
	// duration from 1s to 1h. "" means 5m, as AWS. See ParseClockSkew.
	EC2ClockSkew string `json:"ec2_clock_skew,omitempty"`
	// Watchdog is ironvisor.watchdog / "watchdog": the hardware watchdog
	// (/dev/watchdog). "on" (or "", the default) arms it with the
	// driver's timeout clamped to 10-60 s; "off" leaves it alone; SECONDS
	// (MinWatchdog to MaxWatchdog) arms it with that timeout. See
	// ParseWatchdog.
	Watchdog string `json:"watchdog,omitempty"`
	// UpdateDeadline is ironvisor.update_deadline / "update_deadline":
	// how long a trial boot of a new slot has to become healthy, a Go
	// duration ("" means 5m). See ParseUpdateDeadline.
	UpdateDeadline string `json:"update_deadline,omitempty"`
	// ConfigURL is ironvisor.config, URL#sha256=HEX: a JSON document
	// fetched once the uplink is up; kernel command line only. See
	// ParseConfigURL for its form and url.go for where it sits among the
	// sources.
	ConfigURL string `json:"-"`
	// Rack is rack bootstrap (ironvisor.rack*, "rack"); see Rack.
	Rack Rack `json:"rack,omitzero"`
	// TestHook is ironvisor.test_hook, a fault for the rack tests; kernel
	// command line only. See KeyTestHook.
	TestHook string `json:"-"`
}

// The bounds of an explicit watchdog timeout, in seconds.
const (
	MinWatchdog = 10
	MaxWatchdog = 600
)

// ParseWatchdog reads a Watchdog setting: whether the watchdog is armed
// and the timeout asked for (0 means the driver's own, clamped).
func ParseWatchdog(s string) (on bool, timeout time.Duration, err error) {
	switch s {
	case "", "on":
		return true, 0, nil
	case "off":
		return false, 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinWatchdog || n > MaxWatchdog {
		return true, 0, fmt.Errorf("must be on, off or a timeout in seconds from %d to %d", MinWatchdog, MaxWatchdog)
	}
	return true, time.Duration(n) * time.Second, nil
}

// CheckRegion checks an EC2 region name ("" is the default).
func CheckRegion(s string) error {
	if len(s) > 32 {
		return fmt.Errorf("longer than 32 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("only a-z, 0-9 and - are allowed")
		}
	}
	return nil
}

// ParseClockSkew reads an EC2ClockSkew; "" is 0, the endpoint's default.
func ParseClockSkew(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("want a duration from 1s to 1h, like 5m")
	}
	return d, nil
}

// ParseGuestBlocked reads a GuestBlocked list: the prefixes it names and
// whether the uplink's own subnets are blocked ("" blocks them alone).
// On an error the uplink's subnets are reported blocked.
func ParseGuestBlocked(s string) (prefixes []netip.Prefix, uplink bool, err error) {
	switch strings.TrimSpace(s) {
	case "":
		return nil, true, nil
	case "none":
		return nil, false, nil
	}
	for _, item := range splitList(s) {
		if item == "uplink" {
			uplink = true
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil || !p.Addr().Is4() {
			return nil, true, fmt.Errorf("%s: not an IPv4 prefix, \"uplink\" or \"none\"", item)
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, uplink, nil
}

// MaxPublicIPs bounds the public IP pool.
const MaxPublicIPs = 4096

// ParsePublicIPs reads a public IP pool: comma-separated IPv4 addresses and
// prefixes (every address of a prefix is in the pool), without duplicates.
func ParsePublicIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) error {
		if !a.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
			return fmt.Errorf("%s: not a unicast IPv4 address", a)
		}
		if seen[a] {
			return fmt.Errorf("%s: listed twice", a)
		}
		if len(out) == MaxPublicIPs {
			return fmt.Errorf("more than %d addresses", MaxPublicIPs)
		}
		seen[a] = true
		out = append(out, a)
		return nil
	}
	for _, item := range splitList(s) {
		if p, err := netip.ParsePrefix(item); err == nil {
			if !p.Addr().Is4() || p.Bits() < 32-12 {
				return nil, fmt.Errorf("%s: an IPv4 prefix of /20 or longer", item)
			}
			for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%s: not an address or prefix", item)
		}
		if err := add(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MaxOvercommit is the largest CPU overcommit accepted.
const MaxOvercommit = 16

// ParseOvercommit reads a CPU overcommit ratio: "" is 1, else a decimal
// from 1 to MaxOvercommit.
func ParseOvercommit(s string) (float64, error) {
	if s == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 1 && f <= MaxOvercommit) {
		return 0, fmt.Errorf("must be a number from 1 to %d (vCPUs per host CPU)", MaxOvercommit)
	}
	return f, nil
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{Hostname: DefaultHostname, Uplink: UplinkDHCP, API: DefaultAPI}
}

// FieldError reports one invalid configuration value.
type FieldError struct {
	Key    string // the kernel command-line key, e.g. "ironvisor.uplink"
	Value  string // the value as given
	Reason string // what is wrong with it
}

// Error formats the error as `ironvisor.KEY="VALUE": reason`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Key, e.Value, e.Reason)
}

// Validate checks every field and returns all problems joined, each a
// *FieldError naming the key and the bad value; nil means valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, value, reason string) {
		errs = append(errs, &FieldError{Key: key, Value: value, Reason: reason})
	}
	if r := checkHostname(c.Hostname); r != "" {
		bad(KeyHostname, c.Hostname, r)
	}
	switch c.Uplink {
	case UplinkDHCP:
		if c.Address != "" {
			bad(KeyAddress, c.Address, "only allowed with ironvisor.uplink=static")
		}
		if c.Gateway != "" {
			bad(KeyGateway, c.Gateway, "only allowed with ironvisor.uplink=static")
		}
	case UplinkStatic:
		if c.Address == "" {
			bad(KeyAddress, "", "required with ironvisor.uplink=static")
		}
	default:
		bad(KeyUplink, c.Uplink, "must be dhcp or static")
	}
	if c.Address != "" {
		if _, err := netip.ParsePrefix(c.Address); err != nil {
			bad(KeyAddress, c.Address, "not an address in CIDR form (e.g. 192.0.2.10/24)")
		}
	}
	if c.Gateway != "" {
		if _, err := netip.ParseAddr(c.Gateway); err != nil {
			bad(KeyGateway, c.Gateway, "not an IP address")
		}
	}
	for _, d := range c.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			bad(KeyDNS, d, "not an IP address")
		}
	}
	if r := checkListen(c.API); r != "" {
		bad(KeyAPI, c.API, r)
	}
	for _, m := range c.Modules {
		if r := checkModule(m); r != "" {
			bad(KeyModules, m, r)
		}
	}
	if r := checkIface(c.Iface); r != "" {
		bad(KeyIface, c.Iface, r)
	}
	if _, _, err := ParseData(c.Data); err != nil {
		bad(KeyData, c.Data, err.Error())
	}
	if _, err := ParseOvercommit(c.CPUOvercommit); err != nil {
		bad(KeyOvercommit, c.CPUOvercommit, err.Error())
	}
	if _, err := ParsePublicIPs(c.PublicIPs); err != nil {
		bad(KeyPublicIPs, c.PublicIPs, err.Error())
	}
	if _, _, err := ParseGuestBlocked(c.GuestBlocked); err != nil {
		bad(KeyGuestBlock, c.GuestBlocked, err.Error())
	}
	if err := CheckRegion(c.EC2Region); err != nil {
		bad(KeyEC2Region, c.EC2Region, err.Error())
	}
	if _, err := ParseClockSkew(c.EC2ClockSkew); err != nil {
		bad(KeyEC2Skew, c.EC2ClockSkew, err.Error())
	}
	if _, _, err := ParseWatchdog(c.Watchdog); err != nil {
		bad(KeyWatchdog, c.Watchdog, err.Error())
	}
	if _, err := ParseUpdateDeadline(c.UpdateDeadline); err != nil {
		bad(KeyUpdateDeadline, c.UpdateDeadline, err.Error())
	}
	if c.ConfigURL != "" {
		if _, err := ParseConfigURL(c.ConfigURL); err != nil {
			bad(KeyConfigURL, c.ConfigURL, err.Error())
		}
	}
	c.validateRack(bad)
	c.validateTestHook(bad)
	return errors.Join(errs...)
}

// Sanitize returns a valid configuration close to c: every field named by a
// validation error is reset to its default, and if that is still not
// valid, Defaults is returned. It also returns Validate's error for c.
func (c Config) Sanitize() (Config, error) {
	err := c.Validate()
	if err == nil {
		return c, nil
	}
	d := Defaults()
	var fe *FieldError
	for _, e := range unjoin(err) {
		if !errors.As(e, &fe) {
			continue
		}
		switch fe.Key {
		case KeyHostname:
			c.Hostname = d.Hostname
		case KeyUplink, KeyAddress, KeyGateway:
			c.Uplink, c.Address, c.Gateway = d.Uplink, d.Address, d.Gateway
		case KeyDNS:
			c.DNS = d.DNS
		case KeyAPI:
			c.API = d.API
		case KeyModules:
			c.Modules = d.Modules
		case KeyIface:
			c.Iface = d.Iface
		case KeyData:
			c.Data = d.Data
		case KeyOvercommit:
			c.CPUOvercommit = d.CPUOvercommit
		case KeyPublicIPs:
			c.PublicIPs = d.PublicIPs
		case KeyGuestBlock:
			c.GuestBlocked = d.GuestBlocked
		case KeyEC2Region:
			c.EC2Region = d.EC2Region
		case KeyEC2Skew:
			c.EC2ClockSkew = d.EC2ClockSkew
		case KeyWatchdog:
			c.Watchdog = d.Watchdog
		case KeyUpdateDeadline:
			c.UpdateDeadline = d.UpdateDeadline
		case KeyConfigURL:
			c.ConfigURL = ""
		case KeyTestHook:
			c.TestHook = ""
		default:
			c.sanitizeRack(fe.Key)
		}
	}
	if c.Validate() != nil {
		return d, err
	}
	return c, err
}

// unjoin flattens an error made by errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkHostname validates an RFC 1123 host name; "" means valid.
func checkHostname(h string) string {
	if h == "" || len(h) > 253 {
		return "must be 1 to 253 characters"
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return "each dot-separated label must be 1 to 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "a label may not start or end with '-'"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("character %q not allowed (letters, digits, '-' and '.')", r)
			}
		}
	}
	return ""
}

// checkListen validates a HOST:PORT listen address; "" means valid.
func checkListen(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "must be HOST:PORT (e.g. :8080 or 127.0.0.1:8080)"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return "port must be a number from 0 to 65535"
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "host must be empty, localhost or an IP address"
		}
	}
	return ""
}

// checkModule validates a kernel module name (at most MODULE_NAME_LEN-1,
// 55, characters); "" means valid.
func checkModule(m string) string {
	if m == "" || len(m) > 55 {
		return "module names are 1 to 55 characters"
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("character %q not allowed in a module name", r)
		}
	}
	return ""
}

// checkIface validates a Linux interface name (IFNAMSIZ-1, 15, bytes, no
// '/', ':' or white space); "" means valid. An empty name means "choose".
func checkIface(n string) string {
	if n == "" {
		return ""
	}
	if len(n) > 15 || n == "." || n == ".." {
		return "interface names are 1 to 15 characters and not . or .."
	}
	if strings.ContainsAny(n, "/: \t\n\x00") {
		return "interface names may not contain '/', ':' or white space"
	}
	return ""
}

// ParseData splits a data source (Config.Data) into its kind (DataKind*)
// and value: "auto" (or "") is DataKindAuto; "tmpfs" is DataKindTmpfs;
// "LABEL=NAME" is
// DataKindLabel with NAME (1 to 255 bytes, no white space or '/');
// "UUID=U" is DataKindUUID with U in lower case (hex digits and '-');
// "/dev/NAME" is DataKindDevice with the path.
func ParseData(v string) (kind, value string, err error) {
	switch {
	case v == "" || v == DataAuto:
		return DataKindAuto, "", nil
	case v == DataTmpfs:
		return DataKindTmpfs, "", nil
	case strings.HasPrefix(v, "LABEL="):
		l := strings.TrimPrefix(v, "LABEL=")
		if l == "" || len(l) > 255 || strings.ContainsAny(l, "/ \t\n\x00") {
			return "", "", errors.New("a label is 1 to 255 characters without '/' or white space")
		}
		return DataKindLabel, l, nil
	case strings.HasPrefix(v, "UUID="):
		u := strings.ToLower(strings.TrimPrefix(v, "UUID="))
		if u == "" || len(u) > 36 || strings.Trim(u, "0123456789abcdef-") != "" {
			return "", "", errors.New("a UUID is hex digits and '-' (e.g. 0b5c3f3e-9f1d-4c1a-8a57-1f2e3d4c5b6a)")
		}
		return DataKindUUID, u, nil
	case strings.HasPrefix(v, "/dev/"):
		name := strings.TrimPrefix(v, "/dev/")
		if name == "" || len(v) > 255 || strings.Contains(name, "..") || strings.ContainsAny(v, " \t\n\x00") {
			return "", "", errors.New("a device is a path under /dev (e.g. /dev/sda2)")
		}
		return DataKindDevice, v, nil
	}
	return "", "", errors.New("must be auto, tmpfs, LABEL=NAME, UUID=UUID or /dev/NAME")
}
