// Package guestio is the load of the guest I/O benchmark (build/racktest's
// BenchmarkVMMGuestIOVersusQEMU): random reads on a block device at a fixed
// queue depth, TCP bulk transfer in each direction and a one-byte TCP
// ping-pong, each for a fixed time, and the peer side of the TCP tests
// (a sink, a source and an echo server) that runs on the host. The guest
// side runs as the static command build/rack/guestio/cmd/guestio in the
// guest's initrd; the peers run in the racktest binary in the L1 server.
package guestio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// patternLen is the length of the pattern the random reads verify: block
// i (of ReadOptions.BlockSize bytes) starts with i as a little-endian
// uint64. FillPattern writes it.
const patternLen = 8

// FillPattern writes size bytes (a multiple of bs) at path, each block of bs
// bytes starting with its index as a little-endian uint64 and zero after.
func FillPattern(path string, size, bs int64) error {
	if bs < patternLen || size%bs != 0 {
		return fmt.Errorf("guestio: size %d is not a multiple of block size %d (at least %d)", size, bs, patternLen)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20-(1<<20)%bs)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		clear(buf[:n])
		for b := int64(0); b < n; b += bs {
			binary.LittleEndian.PutUint64(buf[b:], uint64((off+b)/bs))
		}
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			f.Close()
			return err
		}
		off += n
	}
	return f.Close()
}

// ReadOptions configures RandRead.
type ReadOptions struct {
	// Path is the block device or file read.
	Path string
	// Depth is how many reads are in flight at once (one goroutine each).
	Depth int
	// BlockSize is the size and alignment of each read.
	BlockSize int64
	// For is how long the reads run.
	For time.Duration
	// Direct opens Path with O_DIRECT (reads bypass the guest's page
	// cache, so each one is a request to the device).
	Direct bool
	// Verify checks that each block read starts with its index (see
	// FillPattern).
	Verify bool
}

// ReadResult is what RandRead did.
type ReadResult struct {
	Reads   int64
	Elapsed time.Duration
}

// IOPS returns the reads per second.
func (r ReadResult) IOPS() float64 { return float64(r.Reads) / r.Elapsed.Seconds() }

// RandRead reads random aligned blocks of o.Path with o.Depth reads in
// flight for o.For and returns how many completed. The first failed or
// wrong read ends it with an error.
func RandRead(o ReadOptions) (ReadResult, error) {
	if o.Depth < 1 || o.BlockSize < patternLen || o.For <= 0 {
		return ReadResult{}, fmt.Errorf("guestio: bad read options %+v", o)
	}
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if o.Direct {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(o.Path, flags, 0)
	if err != nil {
		return ReadResult{}, fmt.Errorf("guestio: open %s: %w", o.Path, err)
	}
	defer unix.Close(fd)
	size, err := unix.Seek(fd, 0, io.SeekEnd)
	if err != nil {
		return ReadResult{}, fmt.Errorf("guestio: size of %s: %w", o.Path, err)
	}
	blocks := size / o.BlockSize
	if blocks < 1 {
		return ReadResult{}, fmt.Errorf("guestio: %s has %d bytes, less than one block", o.Path, size)
	}
	var (
		reads atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	start := time.Now()
	for w := range o.Depth {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, err := alignedBuffer(int(o.BlockSize))
			if err != nil {
				fail(err)
				return
			}
			defer unix.Munmap(buf)
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			for !stop.Load() {
				blk := rng.Int64N(blocks)
				if err := readBlock(fd, buf, blk*o.BlockSize); err != nil {
					fail(err)
					return
				}
				if o.Verify {
					if got := binary.LittleEndian.Uint64(buf); got != uint64(blk) {
						fail(fmt.Errorf("guestio: block %d starts with %d", blk, got))
						return
					}
				}
				reads.Add(1)
			}
		}()
	}
	timer := time.AfterFunc(o.For, func() { stop.Store(true) })
	wg.Wait()
	timer.Stop()
	res := ReadResult{Reads: reads.Load(), Elapsed: time.Since(start)}
	return res, first
}

// alignedBuffer returns n bytes aligned to the page (O_DIRECT needs the
// buffer aligned to the logical block size).
func alignedBuffer(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("guestio: buffer: %w", err)
	}
	return b, nil
}

// readBlock fills buf from offset off, retrying on EINTR.
func readBlock(fd int, buf []byte, off int64) error {
	for {
		n, err := unix.Pread(fd, buf, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("guestio: pread at %d: %w", off, err)
		}
		if n != len(buf) {
			return fmt.Errorf("guestio: pread at %d: %d of %d bytes", off, n, len(buf))
		}
		return nil
	}
}

// Percentile returns the p-th percentile (0 < p <= 100, nearest rank) of
// v, which it sorts; 0 for an empty v.
func Percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	k := int(float64(len(v))*p/100+0.999999) - 1
	return v[max(0, min(k, len(v)-1))]
}
