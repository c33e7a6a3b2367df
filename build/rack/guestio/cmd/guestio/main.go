// Command guestio is the guest side of the guest I/O benchmark (package
// build/rack/guestio): built static (CGO_ENABLED=0) into the guest's
// initrd, it runs one test and prints one line the host side parses:
//
//	guestio randread -dev /dev/vda -depth 16 -bs 4096 -for 10s
//	  GUEST-IO test=randread iops=N reads=N
//	guestio tx|rx -peer HOST:PORT -for 10s
//	  GUEST-IO test=tx mbs=N bytes=N      (guest to peer, or peer to guest)
//	guestio rr -peer HOST:PORT -for 10s
//	  GUEST-IO test=rr p50_us=N p99_us=N count=N
//
// It exits 1 with the error on stderr when the test fails.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ironvisor/ironvisor/build/rack/guestio"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "guestio: %v\n", err)
		os.Exit(1)
	}
}

// run runs the test that args name and prints its line.
func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: guestio randread|tx|rx|rr [flags]")
	}
	test := args[0]
	fs := flag.NewFlagSet(test, flag.ContinueOnError)
	dev := fs.String("dev", "/dev/vda", "block device (randread)")
	depth := fs.Int("depth", 16, "reads in flight (randread)")
	bs := fs.Int64("bs", 4096, "read size (randread)")
	verify := fs.Bool("verify", true, "check each block's index (randread)")
	peer := fs.String("peer", "", "peer address HOST:PORT (tx, rx, rr)")
	d := fs.Duration("for", 10*time.Second, "how long the test runs")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch test {
	case "randread":
		r, err := guestio.RandRead(guestio.ReadOptions{Path: *dev, Depth: *depth, BlockSize: *bs, For: *d, Direct: true, Verify: *verify})
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-IO test=randread iops=%.0f reads=%d\n", r.IOPS(), r.Reads)
	case "tx", "rx":
		send := guestio.Send
		if test == "rx" {
			send = guestio.Receive
		}
		t, err := send(*peer, *d)
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-IO test=%s mbs=%.1f bytes=%d\n", test, t.MBps(), t.Bytes)
	case "rr":
		rtts, err := guestio.PingPong(*peer, *d)
		if err != nil {
			return err
		}
		n := len(rtts)
		fmt.Printf("GUEST-IO test=rr p50_us=%d p99_us=%d count=%d\n",
			guestio.Percentile(rtts, 50).Microseconds(), guestio.Percentile(rtts, 99).Microseconds(), n)
	default:
		return fmt.Errorf("unknown test %q (randread, tx, rx, rr)", test)
	}
	return nil
}
