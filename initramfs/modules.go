package initramfs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ModInfo is the part of a kernel module's .modinfo section that the
// builder needs (see the kernel's include/linux/moduleparam.h and
// scripts/mod/modpost.c, which write "key=value\0" strings).
type ModInfo struct {
	// Name is the module name with underscores ("kvm_amd").
	Name string
	// Depends lists the modules this one needs loaded first.
	Depends []string
	// SoftPre lists "softdep=pre:" modules, loaded first if present.
	SoftPre []string
}

// ParseModInfo parses the raw contents of a .modinfo section. Unknown keys
// are ignored; a missing name is an error.
func ParseModInfo(section []byte) (ModInfo, error) {
	var mi ModInfo
	for _, kv := range bytes.Split(section, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			mi.Name = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.Depends = append(mi.Depends, canonModName(d))
				}
			}
		case "softdep":
			mi.SoftPre = append(mi.SoftPre, parseSoftPre(v)...)
		}
	}
	if mi.Name == "" {
		return ModInfo{}, fmt.Errorf("modinfo: no name")
	}
	mi.Name = canonModName(mi.Name)
	return mi, nil
}

// parseSoftPre returns the module names after "pre:" in a softdep value
// such as "pre: crc32c post: foo".
func parseSoftPre(v string) []string {
	var out []string
	pre := false
	for _, f := range strings.Fields(v) {
		switch f {
		case "pre:":
			pre = true
		case "post:":
			pre = false
		default:
			if pre {
				out = append(out, canonModName(f))
			}
		}
	}
	return out
}

// canonModName maps a module name to its canonical form: the kernel treats
// '-' and '_' in module names as equal.
func canonModName(n string) string {
	return strings.ReplaceAll(n, "-", "_")
}

// readModInfo reads the .modinfo section of the module file at p.
func readModInfo(p string) (ModInfo, error) {
	f, err := elf.Open(p)
	if err != nil {
		return ModInfo{}, fmt.Errorf("open module %s: %w", p, err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return ModInfo{}, fmt.Errorf("module %s: no .modinfo section", p)
	}
	data, err := s.Data()
	if err != nil {
		return ModInfo{}, fmt.Errorf("module %s: read .modinfo: %w", p, err)
	}
	mi, err := ParseModInfo(data)
	if err != nil {
		return ModInfo{}, fmt.Errorf("module %s: %w", p, err)
	}
	return mi, nil
}

// Module is one kernel module selected for an image.
type Module struct {
	ModInfo
	// Rel is the path relative to the modules folder
	// ("kernel/arch/x86/kvm/kvm-amd.ko").
	Rel string
	// Size is the file size in bytes.
	Size int64
}

// ModuleSet is a dependency-closed set of modules from one kernel's
// modules folder.
type ModuleSet struct {
	// Dir is the host folder /lib/modules/RELEASE the modules come from.
	Dir string
	// Modules is sorted by Rel.
	Modules []Module
	// Builtin lists the modules built into the kernel (modules.builtin).
	Builtin []string
	// Missing lists requested names that are neither modules nor built in.
	Missing []string
}

// ResolveModules finds the requested modules under dir (a
// /lib/modules/RELEASE folder holding uncompressed .ko files and
// modules.builtin) and adds their dependencies and pre-softdeps.
// Requested names that are built in are satisfied; names that are not found
// at all are listed in Missing rather than failing, because which drivers
// are modular differs between kernel configurations. A dependency that is
// not found is an error.
func ResolveModules(dir string, names []string) (*ModuleSet, error) {
	index, err := indexModules(dir)
	if err != nil {
		return nil, err
	}
	builtin, err := readBuiltin(dir)
	if err != nil {
		return nil, err
	}
	set := &ModuleSet{Dir: dir, Builtin: sortedKeys(builtin)}
	chosen := make(map[string]Module)
	missing := make(map[string]bool)
	var add func(name string, required bool) error
	add = func(name string, required bool) error {
		name = canonModName(name)
		if _, ok := chosen[name]; ok || builtin[name] {
			return nil
		}
		rel, ok := index[name]
		if !ok {
			if required {
				return fmt.Errorf("module %s: not found in %s", name, dir)
			}
			if !missing[name] {
				missing[name] = true
				set.Missing = append(set.Missing, name)
			}
			return nil
		}
		m, err := loadModule(dir, rel)
		if err != nil {
			return err
		}
		chosen[name] = m
		for _, d := range m.Depends {
			if err := add(d, true); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		for _, d := range m.SoftPre {
			if err := add(d, false); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n, false); err != nil {
			return nil, err
		}
	}
	for _, m := range chosen {
		set.Modules = append(set.Modules, m)
	}
	sort.Slice(set.Modules, func(i, j int) bool { return set.Modules[i].Rel < set.Modules[j].Rel })
	sort.Strings(set.Missing)
	return set, nil
}

// loadModule reads the module info and size of dir/rel.
func loadModule(dir, rel string) (Module, error) {
	p := filepath.Join(dir, rel)
	mi, err := readModInfo(p)
	if err != nil {
		return Module{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return Module{}, fmt.Errorf("stat module: %w", err)
	}
	return Module{ModInfo: mi, Rel: rel, Size: st.Size()}, nil
}

// indexModules maps canonical module names to .ko paths relative to dir,
// derived from file names (the kernel names a module after its file).
func indexModules(dir string) (map[string]string, error) {
	index := make(map[string]string)
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		index[canonModName(strings.TrimSuffix(d.Name(), ".ko"))] = filepath.ToSlash(rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", dir, err)
	}
	return index, nil
}

// readBuiltin reads dir/modules.builtin into a set of canonical names.
func readBuiltin(dir string) (map[string]bool, error) {
	out := make(map[string]bool)
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		base := filepath.Base(strings.TrimSpace(sc.Text()))
		if base != "." && base != "" {
			out[canonModName(strings.TrimSuffix(base, ".ko"))] = true
		}
	}
	return out, sc.Err()
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TotalSize returns the summed size of the modules in bytes.
func (s *ModuleSet) TotalSize() int64 {
	var n int64
	for _, m := range s.Modules {
		n += m.Size
	}
	return n
}

// DepFile returns the contents of modules.dep for the set, in the format
// depmod writes: "rel/path.ko: dep1.ko dep2.ko" with the dependencies in
// load-reverse order (the module that must load first comes last).
func (s *ModuleSet) DepFile() []byte {
	byName := make(map[string]Module, len(s.Modules))
	for _, m := range s.Modules {
		byName[m.Name] = m
	}
	var buf bytes.Buffer
	for _, m := range s.Modules {
		buf.WriteString(m.Rel + ":")
		for _, d := range s.depOrder(m, byName) {
			buf.WriteString(" " + d)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// depOrder returns the transitive hard dependencies of m in depmod's
// order: reversed, the list is a valid load order (every module after the
// modules it needs), which is how modprobe walks it.
func (s *ModuleSet) depOrder(m Module, byName map[string]Module) []string {
	var load []string
	seen := map[string]bool{m.Name: true}
	var visit func(name string)
	visit = func(name string) {
		d, ok := byName[name]
		if seen[name] || !ok {
			return
		}
		seen[name] = true
		for _, dd := range d.Depends {
			visit(dd)
		}
		load = append(load, d.Rel)
	}
	for _, d := range m.Depends {
		visit(d)
	}
	for i, j := 0, len(load)-1; i < j; i, j = i+1, j-1 {
		load[i], load[j] = load[j], load[i]
	}
	return load
}

// Entries returns archive entries that place the modules, modules.dep and
// modules.builtin under /lib/modules/RELEASE.
func (s *ModuleSet) Entries(release string) []Entry {
	base := "/lib/modules/" + release
	out := []Entry{File(base+"/modules.dep", 0o644, s.DepFile())}
	if len(s.Builtin) > 0 {
		out = append(out, HostFile(base+"/modules.builtin", 0o644, filepath.Join(s.Dir, "modules.builtin")))
	}
	for _, m := range s.Modules {
		out = append(out, HostFile(base+"/"+m.Rel, 0o644, filepath.Join(s.Dir, filepath.FromSlash(m.Rel))))
	}
	return out
}
