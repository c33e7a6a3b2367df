package rackboot

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/config"
)

// HTTPPort is the port of the boot file server on the rack address.
const HTTPPort = 80

// The paths of the boot file server.
const (
	scriptPrefix = "/rack/ipxe/"
	kernelPath   = "/rack/vmlinuz"
	initrdPath   = "/rack/initrd"
)

// Boot serves a rack's network boot over HTTP: each machine's iPXE
// script (by MAC), and this box's kernel and initramfs.
type Boot struct {
	// Base is the server's URL, "http://ADDR:PORT".
	Base string
	// Registry holds the machines.
	Registry *Registry
	// Artefacts are what is served.
	Artefacts *Artefacts
	// Cmdline is this box's own kernel command line: its words other
	// than ironvisor.* keys (console=, ...) are handed on to the machines,
	// which are taken to be the same hardware.
	Cmdline string
	// Logf receives one line per boot served.
	Logf func(format string, args ...any)
}

// ScriptURL is the URL of the boot script of a MAC.
func (b *Boot) ScriptURL(mac string) string {
	return b.Base + scriptPrefix + strings.ReplaceAll(mac, ":", "-")
}

// ServeHTTP serves GET of the script, kernel and initramfs paths.
func (b *Boot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, scriptPrefix):
		b.serveScript(w, strings.TrimPrefix(r.URL.Path, scriptPrefix))
	case r.URL.Path == kernelPath:
		p, err := b.Artefacts.Kernel()
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		http.ServeFile(w, r, p)
	case r.URL.Path == initrdPath:
		data, err := b.Artefacts.Initrd()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.ServeContent(w, r, "initrd", time.Time{}, bytes.NewReader(data))
	default:
		http.NotFound(w, r)
	}
}

// serveScript answers a machine's iPXE script, and records the boot.
func (b *Boot) serveScript(w http.ResponseWriter, macText string) {
	mac, err := ParseMAC(macText)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m, err := b.Registry.Booted(mac)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no lease for "+mac+": boot through this box's DHCP first", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if b.Logf != nil {
		b.Logf("rack: %s (%s) boots", mac, m.Address)
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, Script(b.Base, m, b.Cmdline))
}

// Script returns the iPXE script of machine m: this box's kernel and
// initramfs from base, with m's configuration on the kernel command line
// after the hand-on words of cmdline (see Boot.Cmdline) and before m's
// own extra words. See https://ipxe.org/scripting.
func Script(base string, m apiv1.RackMachine, cmdline string) string {
	words := HandOn(cmdline)
	add := func(key, v string) {
		if v != "" {
			words = append(words, key+"="+v)
		}
	}
	add(config.KeyHostname, m.Hostname)
	add(config.KeyAPI, APIAddr(m))
	add(config.KeyData, m.Data)
	add(config.KeyPublicIPs, m.PublicIPs)
	if m.Cmdline != "" {
		words = append(words, m.Cmdline)
	}
	var s strings.Builder
	s.WriteString("#!ipxe\n")
	fmt.Fprintf(&s, "echo Ironvisor rack boot: %s as %s\n", m.MAC, m.Address)
	fmt.Fprintf(&s, "kernel %s%s %s\n", base, kernelPath, strings.Join(words, " "))
	fmt.Fprintf(&s, "initrd %s%s\n", base, initrdPath)
	s.WriteString("boot\n")
	return s.String()
}

// HandOn returns the words of a kernel command line that a sibling
// inherits: all but the ironvisor.* keys (each machine gets its own),
// the boot loader's BOOT_IMAGE= and initrd=, and what follows "--".
func HandOn(cmdline string) []string {
	var out []string
	for _, w := range strings.Fields(cmdline) {
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "ironvisor.") || strings.HasPrefix(w, "BOOT_IMAGE=") || strings.HasPrefix(w, "initrd=") ||
			strings.ContainsAny(w, "\"'\\") {
			continue
		}
		out = append(out, w)
	}
	return out
}
