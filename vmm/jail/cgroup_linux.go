package jail

// cgroup v2: Documentation/admin-guide/cgroup-v2.rst ("Controlling
// Controllers", "Memory Interface Files", "CPU Interface Files").

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CgroupMount returns the mount point of the first cgroup2 file system in
// /proc/self/mountinfo.
func CgroupMount() (string, error) {
	var mnt string
	err := scanMounts(func(point, fstype string) bool {
		if fstype == "cgroup2" {
			mnt = point
			return false
		}
		return true
	})
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	if mnt == "" {
		return "", errors.New("find cgroup2 mount: no cgroup2 file system mounted")
	}
	return mnt, nil
}

// mountPoints lists the mount points in /proc/self/mountinfo, parents
// before children.
func mountPoints() ([]string, error) {
	var points []string
	err := scanMounts(func(point, _ string) bool {
		points = append(points, point)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return points, nil
}

// scanMounts calls f with the mount point and file system type of each line
// of /proc/self/mountinfo, in order, until f returns false. Octal escapes
// in mount points (\040 for a space) are decoded.
func scanMounts(f func(point, fstype string) bool) error {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		if !f(unescapeMount(fields[4]), fstype) {
			return nil
		}
	}
	return sc.Err()
}

// unescapeMount decodes the \ooo octal escapes of a mountinfo field.
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupParent returns s.CgroupParent or the default under the cgroup2 mount.
func cgroupParent(s Spec) (string, error) {
	if s.CgroupParent != "" {
		return s.CgroupParent, nil
	}
	mnt, err := prepared.cgroupMount()
	if err != nil {
		return "", err
	}
	return filepath.Join(mnt, DefaultCgroupName), nil
}

// controllersFor lists the controllers the limits in s need.
func controllersFor(s Spec) []string {
	var c []string
	if s.MemoryMax > 0 {
		c = append(c, "memory")
	}
	if s.CPUs > 0 {
		c = append(c, "cpu")
	}
	if s.PidsMax > 0 {
		c = append(c, "pids")
	}
	if len(s.IOMax) > 0 || s.IOWeight > 0 {
		c = append(c, "io")
	}
	return c
}

// enableControllers creates parent (and its missing ancestors below the
// cgroup2 mount) and enables ctrls in the subtree_control of every cgroup
// from the mount down to parent, so that parent's children get them.
func enableControllers(parent string, ctrls []string) error {
	mnt, err := prepared.cgroupMount()
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(mnt, parent)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup parent %s is not under the cgroup2 mount %s", parent, mnt)
	}
	dir := mnt
	for _, el := range append([]string{""}, strings.Split(rel, "/")...) {
		if el == "." {
			continue
		}
		dir = filepath.Join(dir, el)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if err := enableIn(dir, ctrls); err != nil {
			return err
		}
	}
	return nil
}

// enableIn writes "+ctrl" to dir/cgroup.subtree_control for each ctrl not
// yet enabled there.
func enableIn(dir string, ctrls []string) error {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	on, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read subtree_control of %s: %w", dir, err)
	}
	for _, c := range ctrls {
		if hasWord(string(on), c) {
			continue
		}
		if !hasWord(string(avail), c) {
			return fmt.Errorf("%w: %q in %s (available: %q)", ErrNoController, c, dir, strings.TrimSpace(string(avail)))
		}
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c); err != nil {
			return err
		}
	}
	return nil
}

// hasWord reports whether the space-separated list s contains w.
func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// writeFile writes v to an existing control file.
func writeFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, path, err)
	}
	return nil
}

// createLeaf creates the VM's cgroup under parent and writes its limits.
// The parent is prepared (created, its controllers enabled from the mount
// down) once per parent and set of controllers, not at every start; if the
// leaf cannot be made as prepared (someone removed the parent, or turned a
// controller off), the preparation is redone once.
func createLeaf(s Spec, parent string) (string, error) {
	ctrls := controllersFor(s)
	cached := prepared.has(parent, ctrls)
	leaf, err := makeLeaf(s, parent, ctrls, cached)
	if err != nil && cached {
		prepared.forget(parent)
		leaf, err = makeLeaf(s, parent, ctrls, false)
	}
	return leaf, err
}

// makeLeaf prepares parent unless skip says it is, then creates the leaf
// and writes its limits.
func makeLeaf(s Spec, parent string, ctrls []string, skip bool) (string, error) {
	if !skip {
		if err := enableControllers(parent, ctrls); err != nil {
			return "", err
		}
		prepared.add(parent, ctrls)
	}
	leaf := filepath.Join(parent, s.ID)
	if err := os.Mkdir(leaf, 0o755); err != nil {
		return "", fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	if err := writeLimits(leaf, s); err != nil {
		os.Remove(leaf)
		return "", err
	}
	return leaf, nil
}

// prepared remembers the cgroup parents that enableControllers set up, and
// the first cgroup2 mount point found.
var prepared preparedParents

// preparedParents is the set of parents known to exist with their
// controllers enabled down to them.
type preparedParents struct {
	mu sync.Mutex
	// ctrls holds, per parent, the controllers enabled for its children;
	// guarded by mu.
	ctrls map[string]map[string]bool
	// mount is the cgroup2 mount point once found; guarded by mu.
	mount string
}

// has reports whether parent was prepared with every controller of ctrls.
func (p *preparedParents) has(parent string, ctrls []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	on, ok := p.ctrls[parent]
	if !ok {
		return false
	}
	for _, c := range ctrls {
		if !on[c] {
			return false
		}
	}
	return true
}

// add records that parent was prepared with ctrls.
func (p *preparedParents) add(parent string, ctrls []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctrls == nil {
		p.ctrls = map[string]map[string]bool{}
	}
	if p.ctrls[parent] == nil {
		p.ctrls[parent] = map[string]bool{}
	}
	for _, c := range ctrls {
		p.ctrls[parent][c] = true
	}
}

// forget drops what is known about parent and the mount point.
func (p *preparedParents) forget(parent string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ctrls, parent)
	p.mount = ""
}

// cgroupMount is CgroupMount, read from /proc/self/mountinfo only until it
// is found.
func (p *preparedParents) cgroupMount() (string, error) {
	p.mu.Lock()
	mnt := p.mount
	p.mu.Unlock()
	if mnt != "" {
		return mnt, nil
	}
	mnt, err := CgroupMount()
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.mount = mnt
	p.mu.Unlock()
	return mnt, nil
}

// writeLimits writes the limits of s into the cgroup leaf: memory.max,
// memory.oom.group and memory.swap.max (where swap is accounted), cpu.max,
// pids.max, io.max (a line per device) and io.weight.
func writeLimits(leaf string, s Spec) error {
	var limits [][2]string
	if s.MemoryMax > 0 {
		limits = append(limits,
			[2]string{"memory.max", strconv.FormatInt(s.MemoryMax, 10)},
			[2]string{"memory.oom.group", "1"})
		if _, err := os.Stat(filepath.Join(leaf, "memory.swap.max")); err == nil {
			limits = append(limits, [2]string{"memory.swap.max", "0"})
		}
	}
	if s.CPUs > 0 {
		quota := int64(s.CPUs * cpuPeriod)
		if quota < 1000 {
			quota = 1000
		}
		limits = append(limits, [2]string{"cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)})
	}
	if s.PidsMax > 0 {
		limits = append(limits, [2]string{"pids.max", strconv.FormatInt(s.PidsMax, 10)})
	}
	for _, l := range s.IOMax {
		limits = append(limits, [2]string{"io.max", l.line()})
	}
	if s.IOWeight > 0 {
		limits = append(limits, [2]string{"io.weight", "default " + strconv.Itoa(s.IOWeight)})
	}
	for _, l := range limits {
		if err := writeFile(filepath.Join(leaf, l[0]), l[1]); err != nil {
			return err
		}
	}
	return nil
}

// line is l as a line of io.max ("8:0 rbps=... wbps=max ...").
func (l IOLimit) line() string {
	v := func(n uint64) string {
		if n == 0 {
			return "max"
		}
		return strconv.FormatUint(n, 10)
	}
	return fmt.Sprintf("%d:%d rbps=%s wbps=%s riops=%s wiops=%s",
		l.Major, l.Minor, v(l.ReadBPS), v(l.WriteBPS), v(l.ReadIOPS), v(l.WriteIOPS))
}

// removeLeaf kills every process left in the cgroup leaf, waits for it to
// empty and removes it. A missing leaf is not an error.
func removeLeaf(leaf string) error {
	if _, err := os.Stat(leaf); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := writeFile(filepath.Join(leaf, "cgroup.kill"), "1"); err != nil {
		// cgroup.kill needs Linux 5.14; fall back to killing each pid.
		killProcs(leaf)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(leaf)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", leaf, err)
		}
		killProcs(leaf)
		time.Sleep(10 * time.Millisecond)
	}
}

// killProcs sends SIGKILL to every process listed in leaf/cgroup.procs.
func killProcs(leaf string) {
	b, err := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
}
