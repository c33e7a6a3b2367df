package deptest

import (
	"fmt"
	"sort"
	"strings"
)

// The import rules of DESIGN.md ("Folders"): imports flow one way,
// cmd/ironvisor → appliance → netcfg, config, vmm.

// vmmMayNotImport are the top folders the VMM never imports: it is a
// library the appliance uses, never the other way round, and it does not
// know how it is built.
var vmmMayNotImport = []string{"appliance", "netcfg", "build"}

// testHarness are the packages any test file may import whatever its
// layer: build/rack/gotest runs a package's own tests inside the virtual
// rack (the racktest packages beside vmm/jail, netcfg and the appliance).
var testHarness = map[string]bool{"build/rack/gotest": true}

// applianceMayImport are the only vmm packages the appliance may import:
// it talks to a running VMM through its control socket and starts it in
// its jail, and otherwise knows only whether KVM works and what the VMM's
// exit codes mean.
var applianceMayImport = map[string]string{
	"vmm/control":  "the control socket client",
	"vmm/jail":     "starts the VMM confined, and opens the tap it hands it",
	"vmm/kvm":      "KVM detection (kvm.Usable, kvm.Probe, kvm.DetectKind)",
	"vmm/exitcode": "the exit codes of `vmm run`",
}

// applianceTestsMayImport are the vmm packages the appliance's test files
// may import besides applianceMayImport: the tiny guest programs.
var applianceTestsMayImport = map[string]bool{"vmm/testutil": true}

// applianceExceptions are single appliance packages allowed one more vmm
// package each, with the reason.
var applianceExceptions = map[string]map[string]string{
	// Image upload checks a kernel with the very parser and loader the
	// VMM boots it with (a PVH ELF is loaded into scratch guest memory),
	// so that what the API accepts is what the VMM can start.
	"appliance/images": {
		"vmm/boot":   "the kernel image parsers and the PVH loader",
		"vmm/memory": "scratch guest memory to load a PVH kernel into",
	},
}

// orphanAllowed are library packages that nothing imports yet, each with
// the reason.
var orphanAllowed = map[string]string{}

// checkLayers returns one message per import that breaks the layering.
func checkLayers(t *tree) []string {
	var bad []string
	for _, p := range t.pkgs {
		for _, f := range p.files {
			for _, imp := range f.imports {
				dep, ok := t.local(imp)
				if !ok {
					continue
				}
				if msg := layerViolation(p.dir, dep, f.test); msg != "" {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s", f.rel, dep, msg))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// layerViolation says why a file in folder dir may not import the module's
// package dep, or returns "".
func layerViolation(dir, dep string, test bool) string {
	if test && testHarness[dep] {
		return ""
	}
	switch {
	case under(dir, "vmm"):
		for _, top := range vmmMayNotImport {
			if under(dep, top) {
				return "vmm never imports " + top
			}
		}
	case under(dir, "netcfg"):
		if under(dep, "vmm") {
			return "netcfg never imports vmm"
		}
	case under(dir, "appliance"):
		if !under(dep, "vmm") {
			return ""
		}
		if _, ok := applianceMayImport[dep]; ok {
			return ""
		}
		if test && applianceTestsMayImport[dep] {
			return ""
		}
		if _, ok := applianceExceptions[dir][dep]; ok {
			return ""
		}
		return "the appliance imports only the allow-listed vmm packages " + allowedList()
	}
	return ""
}

// allowedList names applianceMayImport's packages, for messages.
func allowedList() string {
	var names []string
	for dep := range applianceMayImport {
		names = append(names, dep)
	}
	sort.Strings(names)
	return "(" + strings.Join(names, ", ") + ")"
}

// checkOrphans returns one message per library package that nothing else
// imports: not a main, not a package that exists only for its tests, not a
// tool that go generate runs, and not allow-listed.
func checkOrphans(t *tree) []string {
	imported := map[string]bool{}
	for _, p := range t.pkgs {
		for _, f := range p.files {
			for _, imp := range f.imports {
				if dep, ok := t.local(imp); ok && dep != p.dir {
					imported[dep] = true
				}
			}
		}
	}
	var bad []string
	for dir, p := range t.pkgs {
		switch {
		case p.name == "" || p.name == "main" || p.testOnly(), t.generated[dir], imported[dir]:
			continue
		}
		if _, ok := orphanAllowed[dir]; ok {
			continue
		}
		bad = append(bad, dir+": package "+p.name+" is imported by nothing")
	}
	sort.Strings(bad)
	return bad
}
