package disk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// espSlackBytes is free space left in the ESP beyond the files.
const espSlackBytes = 4 << 20

// BuildESP writes a FAT file system image to out holding files (map of
// path inside the ESP, like "/EFI/BOOT/BOOTX64.EFI", to host path). It uses
// mkfs.vfat (dosfstools) and mtools, so it needs neither root nor a loop
// device. The file system has room bytes free beyond the files and slack.
func BuildESP(ctx context.Context, out string, files map[string]string, room int64) error {
	size := espSlackBytes + room
	for _, src := range files {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("esp: %w", err)
		}
		size += st.Size()
	}
	kib := (size*11/10)/1024 + 1024
	os.Remove(out)
	if err := run(ctx, "mkfs.vfat", "-C", "-n", "IRONVISOR", "-i", "49524f4e", out, fmt.Sprint(kib)); err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	made := map[string]bool{}
	for dst, src := range files {
		if err := mkdirs(ctx, out, dst, made); err != nil {
			return err
		}
		if err := run(ctx, "mcopy", "-i", out, "-o", src, "::"+dst); err != nil {
			return fmt.Errorf("esp: %w", err)
		}
	}
	return nil
}

// mkdirs creates the parent folders of dst inside the FAT image.
func mkdirs(ctx context.Context, img, dst string, made map[string]bool) error {
	for i := 1; i < len(dst); i++ {
		if dst[i] != '/' {
			continue
		}
		dir := dst[:i]
		if made[dir] {
			continue
		}
		if err := run(ctx, "mmd", "-i", img, "::"+dir); err != nil {
			return fmt.Errorf("esp: %w", err)
		}
		made[dir] = true
	}
	return nil
}

// run runs a command, returning its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, b)
	}
	return nil
}
