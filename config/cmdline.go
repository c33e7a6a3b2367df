package config

import (
	"errors"
	"fmt"
	"strings"
)

// The kernel command-line keys the appliance reads.
const (
	KeyHostname   = "ironvisor.hostname"
	KeyUplink     = "ironvisor.uplink"
	KeyAddress    = "ironvisor.address"
	KeyGateway    = "ironvisor.gateway"
	KeyDNS        = "ironvisor.dns"
	KeyAPI        = "ironvisor.api"
	KeyModules    = "ironvisor.modules"
	KeyIface      = "ironvisor.iface"
	KeyData       = "ironvisor.data"
	KeyOvercommit = "ironvisor.cpu_overcommit"
	KeyPublicIPs  = "ironvisor.public_ips"
	KeyGuestBlock = "ironvisor.guest_blocked"
	KeyEC2Region  = "ironvisor.ec2_region"
	KeyEC2Skew    = "ironvisor.ec2_clock_skew"
	KeyWatchdog   = "ironvisor.watchdog"
)

// keyPrefix marks the words of the kernel command line that belong to us.
const keyPrefix = "ironvisor."

// maxCmdline bounds the command line we parse; the kernel's own limit
// (COMMAND_LINE_SIZE on x86) is 2048 bytes, so anything far beyond is junk.
const maxCmdline = 64 << 10

// ParseCmdline reads the ironvisor.* keys of a kernel command line on top
// of Defaults. See ApplyCmdline.
func ParseCmdline(cmdline string) (Config, error) {
	return ApplyCmdline(Defaults(), cmdline)
}

// ApplyCmdline sets the fields of base named by the ironvisor.* keys of a
// kernel command line (the contents of /proc/cmdline) and returns the
// result. Other words are ignored, as is everything after "--" (the kernel
// hands those to init). A later key overrides an earlier one, as the kernel
// does. Unknown ironvisor.* keys and keys without "=" are errors. The
// result is not validated; call Validate or Sanitize.
func ApplyCmdline(base Config, cmdline string) (Config, error) {
	if len(cmdline) > maxCmdline {
		return base, fmt.Errorf("kernel command line is %d bytes, more than %d", len(cmdline), maxCmdline)
	}
	var errs []error
	for _, word := range splitCmdline(cmdline) {
		if word == "--" {
			break
		}
		key, value, hasValue := strings.Cut(unquote(word), "=")
		if !strings.HasPrefix(key, keyPrefix) {
			continue
		}
		if !hasValue {
			errs = append(errs, &FieldError{Key: key, Reason: "needs a value (" + key + "=...)"})
			continue
		}
		if err := base.set(key, value); err != nil {
			errs = append(errs, err)
		}
	}
	return base, errors.Join(errs...)
}

// set assigns one key's value.
func (c *Config) set(key, value string) error {
	switch key {
	case KeyHostname:
		c.Hostname = value
	case KeyUplink:
		c.Uplink = value
	case KeyAddress:
		c.Address = value
	case KeyGateway:
		c.Gateway = value
	case KeyDNS:
		c.DNS = splitList(value)
	case KeyAPI:
		c.API = value
	case KeyModules:
		c.Modules = splitList(value)
	case KeyIface:
		c.Iface = value
	case KeyData:
		c.Data = value
	case KeyOvercommit:
		c.CPUOvercommit = value
	case KeyPublicIPs:
		c.PublicIPs = value
	case KeyGuestBlock:
		c.GuestBlocked = value
	case KeyEC2Region:
		c.EC2Region = value
	case KeyEC2Skew:
		c.EC2ClockSkew = value
	case KeyWatchdog:
		c.Watchdog = value
	case KeyUpdateDeadline:
		c.UpdateDeadline = value
	case KeyConfigURL:
		c.ConfigURL = value
	case KeyTestHook:
		c.TestHook = value
	default:
		if ok, err := c.setRack(key, value); ok {
			return err
		}
		return &FieldError{Key: key, Value: value, Reason: "unknown key"}
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// splitCmdline splits a command line into words the way the kernel's
// next_arg (kernel/params.c) does: words are separated by white space, and
// double quotes protect white space inside a word.
func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !quoted && isSpace(ch) {
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		inWord = true
		if ch == '"' {
			quoted = !quoted
		}
		cur.WriteByte(ch)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// unquote removes the double quotes a kernel parameter may carry:
// ironvisor.hostname="a" and "ironvisor.hostname=a" both mean a.
func unquote(v string) string {
	return strings.ReplaceAll(v, `"`, "")
}

// isSpace reports the kernel's isspace for the bytes found in command lines.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
