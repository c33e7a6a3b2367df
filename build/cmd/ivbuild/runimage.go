package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ironvisor/ironvisor/build/rack"
)

// dataDiskSize is the apparent size of the data disk `ivbuild run` makes;
// it is sparse, so it takes only what the appliance writes.
const dataDiskSize = 20 << 30

// dataLabel is the data disk's file system label, which the server's
// command line names (ironvisor.data=LABEL=...).
const dataLabel = "ivdata"

// parsePorts parses -forward: "" (none), "PORT" or "FIRST-LAST", at most
// 100 ports, none of them the API's 8080.
func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	first, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	switch {
	case err1 != nil || err2 != nil:
		return nil, fmt.Errorf("-forward %q: want PORT or FIRST-LAST", s)
	case first < 1 || last > 65535 || first > last:
		return nil, fmt.Errorf("-forward %q: want 1 <= FIRST <= LAST <= 65535", s)
	case last-first >= 100:
		return nil, fmt.Errorf("-forward %q: at most 100 ports", s)
	case first <= 8080 && 8080 <= last:
		return nil, fmt.Errorf("-forward %q: 8080 is the API's port", s)
	}
	var ports []int
	for p := first; p <= last; p++ {
		ports = append(ports, p)
	}
	return ports, nil
}

// dataDisk returns the QEMU arguments attaching the server's data disk at
// path, made first (sparse, btrfs labelled ivdata, so that root volumes
// are reflink copies of the images) when it does not exist yet; "" means
// none (the state lives in RAM).
func dataDisk(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		mkfs, err := exec.LookPath("mkfs.btrfs")
		if err != nil {
			return nil, fmt.Errorf("data disk: mkfs.btrfs not installed (make deps installs btrfs-progs): %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		tmp := path + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return nil, err
		}
		err = f.Truncate(dataDiskSize)
		f.Close()
		if err == nil {
			if out, merr := exec.Command(mkfs, "-q", "-L", dataLabel, tmp).CombinedOutput(); merr != nil {
				err = fmt.Errorf("mkfs.btrfs: %v: %s", merr, out)
			}
		}
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("data disk: %w", err)
		}
		logf("made the data disk %s (btrfs, %d GiB sparse): the appliance's state survives a restart", path, dataDiskSize>>30)
	} else if err != nil {
		return nil, err
	}
	return []string{"-drive", "file=" + path + ",if=virtio,format=raw"}, nil
}

// importImage uploads the disk image at path as image name unless the
// appliance has it already, printing progress; a missing file is only
// reported (ivbuild cloudimage makes it).
func importImage(ctx context.Context, a *rack.API, name, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		logf("no image to import (%v); `ivbuild cloudimage` builds Debian 12's", err)
		return nil
	}
	var imgs []struct{ Name string }
	if err := a.GetJSON(ctx, "/v1/images", &imgs); err != nil {
		return err
	}
	for _, img := range imgs {
		if img.Name == name {
			logf("image %s: already imported", name)
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var sent atomic.Int64
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("name", name)
		if err == nil {
			var w io.Writer
			if w, err = mw.CreateFormFile("disk", filepath.Base(path)); err == nil {
				_, err = io.Copy(w, io.TeeReader(f, counter{&sent}))
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	done := make(chan struct{})
	defer close(done)
	start := time.Now()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n := sent.Load(); n < st.Size() {
					logf("importing %s: %d of %d MiB uploaded (%.0fs)", name, n>>20, st.Size()>>20, time.Since(start).Seconds())
				} else {
					logf("importing %s: uploaded; the appliance converts it and reads its kernel (%.0fs)", name, time.Since(start).Seconds())
				}
			}
		}
	}()
	logf("importing %s into the appliance as image %s (%d MiB) ...", path, name, st.Size()>>20)
	body, err := a.Do(ctx, "POST", "/v1/images", mw.FormDataContentType(), pr)
	pr.Close()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	var img struct {
		ID   string `json:"id"`
		Boot struct {
			KernelPath string `json:"kernel_path"`
		} `json:"boot"`
	}
	json.Unmarshal(body, &img)
	logf("image %s (%s) imported in %.1fs; it boots its own %s", name, img.ID, time.Since(start).Seconds(), img.Boot.KernelPath)
	return nil
}

// counter counts the bytes written through it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}
