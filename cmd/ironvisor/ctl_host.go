package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// hostUpdate is "host update FILE|URL": a FILE (a UKI) is hashed here and
// streamed to the appliance; a URL is fetched by the appliance and needs
// --sha256. The appliance installs it into its other boot slot and
// reboots into it once it has answered.
func (x *ctlCtx) hostUpdate(args []string) error {
	var sum string
	var tries int
	pos, err := x.sub("update", args, 1, func(fs *flag.FlagSet) {
		fs.StringVar(&sum, "sha256", "", "expected SHA-256 of the UKI, hex (required with a URL; computed here for a FILE)")
		fs.IntVar(&tries, "tries", 0, "boots the new image gets to become healthy before the box falls back (default 3)")
	})
	if err != nil {
		return err
	}
	src := pos[0]
	q := apiv1.HostUpdateRequest{SHA256: sum, Tries: tries}
	var out apiv1.HostUpdate
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		if sum == "" {
			return usageError("host update URL: --sha256 is required")
		}
		q.URL = src
		out, err = x.c.UpdateHost(context.Background(), q, nil)
	} else {
		out, err = x.updateFromFile(src, q)
	}
	if err != nil {
		return err
	}
	if x.json {
		return json.NewEncoder(x.out).Encode(out)
	}
	fmt.Fprintf(x.out, "installed version %s in slot %s (generation %d, %d tries, sha256 %s); the host reboots into it now (it was on slot %s, version %s)\n",
		out.Version, out.Slot, out.Generation, out.Tries, out.SHA256, out.FromSlot, out.FromVersion)
	return nil
}

// updateFromFile hashes file (checking it against q.SHA256 if given) and
// streams it with a progress line.
func (x *ctlCtx) updateFromFile(file string, q apiv1.HostUpdateRequest) (apiv1.HostUpdate, error) {
	f, err := os.Open(file)
	if err != nil {
		return apiv1.HostUpdate{}, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return apiv1.HostUpdate{}, fmt.Errorf("read %s: %w", file, err)
	}
	local := hex.EncodeToString(h.Sum(nil))
	if q.SHA256 != "" && !strings.EqualFold(q.SHA256, local) {
		return apiv1.HostUpdate{}, fmt.Errorf("%s has sha256 %s, not %s", file, local, q.SHA256)
	}
	q.SHA256 = local
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return apiv1.HostUpdate{}, err
	}
	cr := &sentCounter{r: f}
	out, err := x.c.UpdateHost(context.Background(), q, cr)
	fmt.Fprintf(x.errw, "sent %.1f MiB of %.1f MiB\n", float64(cr.n.Load())/(1<<20), float64(size)/(1<<20))
	return out, err
}
