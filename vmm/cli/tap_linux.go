package cli

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/vmm/jail"
	"github.com/ironvisor/ironvisor/vmm/vm"
)

// parseTap parses NAME[,mac=xx:xx:xx:xx:xx:xx]; NAME may be fd:N.
func parseTap(s string) (name string, mac [6]byte, err error) {
	name, opts, _ := strings.Cut(s, ",")
	if name == "" || (len(name) >= unix.IFNAMSIZ && !strings.HasPrefix(name, "fd:")) {
		return "", mac, fmt.Errorf("tap %q: bad interface name", s)
	}
	if opts == "" {
		return name, mac, nil
	}
	v, ok := strings.CutPrefix(opts, "mac=")
	if !ok {
		return "", mac, fmt.Errorf("tap %q: unknown option %q", s, opts)
	}
	hw, err := net.ParseMAC(v)
	if err != nil || len(hw) != 6 {
		return "", mac, fmt.Errorf("tap %q: bad MAC %q", s, v)
	}
	if hw[0]&1 != 0 {
		return "", mac, fmt.Errorf("tap %q: MAC %s is multicast", s, v)
	}
	copy(mac[:], hw)
	return name, mac, nil
}

// openTapFlag attaches to the tap named by a --tap flag (creating it if it
// does not exist) through jail.OpenTap, or adopts the inherited fd:N.
func openTapFlag(s string) (vm.Tap, error) {
	name, mac, err := parseTap(s)
	if err != nil {
		return vm.Tap{}, err
	}
	if num, ok := strings.CutPrefix(name, "fd:"); ok {
		return inheritedTap(name, num, mac)
	}
	f, err := jail.OpenTap(name)
	if err != nil {
		return vm.Tap{}, err
	}
	return vm.Tap{File: f, Name: name, MAC: mac}, nil
}

// inheritedTap adopts a tap fd the jail passed in (already attached with
// TUNSETIFF by the parent). It is made non-blocking before it is wrapped, so
// the file is pollable.
func inheritedTap(name, num string, mac [6]byte) (vm.Tap, error) {
	fd, err := strconv.Atoi(num)
	if err != nil || fd < 3 {
		return vm.Tap{}, fmt.Errorf("tap %s: not an inherited fd number", name)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return vm.Tap{}, fmt.Errorf("tap %s: %w", name, err)
	}
	f, err := jail.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return vm.Tap{}, fmt.Errorf("tap %s: %w", name, err)
	}
	return vm.Tap{File: f, Name: name, MAC: mac}, nil
}
