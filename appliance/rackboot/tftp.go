package rackboot

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/pin/tftp/v3"
)

// TFTPPort is the TFTP server's port (RFC 1350).
const TFTPPort = 69

// tftpFile opens the file a TFTP client asked for: the iPXE binaries
// only. Everything else is refused, and so is every write.
func (a *Artefacts) tftpFile(name string) (*os.File, error) {
	p, err := a.IPXE(name)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// newTFTP returns a read-only TFTP server of a's iPXE binaries (pin/tftp:
// RFC 1350 with the blksize and tsize options of RFC 2347-2349).
func newTFTP(a *Artefacts, logf func(string, ...any)) *tftp.Server {
	read := func(name string, rf io.ReaderFrom) error {
		f, err := a.tftpFile(name)
		if err != nil {
			logf("rack tftp: %s: %v", name, err)
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			if t, ok := rf.(tftp.OutgoingTransfer); ok {
				t.SetSize(fi.Size())
			}
		}
		_, err = rf.ReadFrom(f)
		return err
	}
	write := func(name string, _ io.WriterTo) error {
		return fmt.Errorf("read-only server: %s not written", name)
	}
	return tftp.NewServer(read, write)
}

// serveTFTP serves s on addr:TFTPPort until s.Shutdown.
func serveTFTP(s *tftp.Server, addr net.IP) (net.PacketConn, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: addr, Port: TFTPPort})
	if err != nil {
		return nil, fmt.Errorf("rack tftp: %w", err)
	}
	go s.Serve(conn)
	return conn, nil
}
