package initramfs

import (
	"fmt"
	"os"
	"sort"

	"github.com/u-root/u-root/pkg/ldd"
)

// Executable returns the entries that carry the host program src at path
// p in the image, with every shared library and the program interpreter
// it needs at their host paths, so that a dynamically linked tool runs in
// an image that otherwise holds static binaries. The libraries are found
// with u-root's pkg/ldd, which asks the host's loader (ld.so --list);
// symbolic links among them stay links. The image has no ld.so.cache:
// the loader finds the libraries in its built-in search path, which is
// where the host keeps them.
func Executable(p, src string) ([]Entry, error) {
	if !isFile(src) {
		return nil, fmt.Errorf("executable %s: %s is not a file", p, src)
	}
	libs, err := ldd.FList(src)
	if err != nil {
		return nil, fmt.Errorf("executable %s: libraries of %s: %w", p, src, err)
	}
	sort.Strings(libs)
	es := []Entry{HostFile(p, 0o755, src)}
	for _, l := range libs {
		fi, err := os.Lstat(l)
		if err != nil {
			return nil, fmt.Errorf("executable %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(l)
			if err != nil {
				return nil, fmt.Errorf("executable %s: %w", p, err)
			}
			es = append(es, Symlink(l, target))
			continue
		}
		es = append(es, HostFile(l, 0o755, l))
	}
	return es, nil
}
