package netcfg

import (
	"errors"
	"fmt"
	"maps"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkCache mirrors the namespace's links between Reconciles, so that a
// Reconcile that changes one NIC does not dump every link: one full dump,
// then the kernel's link notifications (RTNLGRP_LINK), all of them drained
// and applied in order at the start of each Reconcile. Every change of a
// link (created, deleted, renamed, up or down, MTU, master) is notified,
// ours and anyone else's, so the mirror after the drain is the kernel's
// state. A lost notification (the socket's queue overflowed) or any error
// makes the next list a full dump again.
type linkCache struct {
	sub   *nl.NetlinkSocket
	links map[string]netlink.Link // by name; nil: dump at the next list
	names map[int]string          // index → name of the links in links
	buf   []byte
	dumps int // full dumps so far
}

// newLinkCache subscribes to the link notifications of ns (the caller's
// namespace when ns is not open).
func newLinkCache(ns netns.NsHandle) (*linkCache, error) {
	var sub *nl.NetlinkSocket
	var err error
	if ns.IsOpen() {
		sub, err = nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	} else {
		sub, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe to link notifications: %w", err)
	}
	// Room for the notifications of a whole Reconcile of many taps.
	if err := sub.SetReceiveBufferSize(8<<20, true); err != nil {
		sub.Close()
		return nil, fmt.Errorf("link notifications buffer: %w", err)
	}
	return &linkCache{sub: sub, buf: make([]byte, 1<<16)}, nil
}

func (c *linkCache) close() { c.sub.Close() }

// list returns the namespace's links by name, in a map the caller may
// change: the mirror brought up to date, or a full dump through h.
func (c *linkCache) list(h *netlink.Handle) (map[string]netlink.Link, error) {
	if err := c.sync(h); err != nil {
		return nil, err
	}
	return maps.Clone(c.links), nil
}

// sync brings the mirror up to date: the queued notifications, or a full
// dump through h when the mirror is unknown or one may have been lost.
func (c *linkCache) sync(h *netlink.Handle) error {
	if err := c.drain(); err != nil {
		c.links = nil
	}
	if c.links != nil {
		return nil
	}
	// Notifications queued from now on are applied over the dump at
	// the next sync; they are newer than what they overwrite.
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	c.dumps++
	c.links = make(map[string]netlink.Link, len(links))
	c.names = make(map[int]string, len(links))
	for _, l := range links {
		c.links[l.Attrs().Name] = l
		c.names[l.Attrs().Index] = l.Attrs().Name
	}
	return nil
}

// get returns the link called name as of the last sync, or nil.
func (c *linkCache) get(name string) netlink.Link { return c.links[name] }

// drain applies every queued notification to the mirror. It returns an
// error when one may have been lost; the mirror must then be dumped again.
func (c *linkCache) drain() error {
	var lost error
	for {
		n, _, err := unix.Recvfrom(c.sub.GetFd(), c.buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return lost
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// ENOBUFS: the queue overflowed. Keep draining what is left.
			lost = fmt.Errorf("link notifications: %w", err)
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			lost = fmt.Errorf("link notification: %w", err)
			continue
		}
		if lost == nil && c.links != nil {
			if err := c.apply(msgs); err != nil {
				lost = err
			}
		}
	}
}

// apply updates the mirror with link notifications. Only AF_UNSPEC ones
// describe links: the bridge's AF_BRIDGE ones describe its ports, and its
// RTM_DELLINK means "left the bridge", not "deleted".
func (c *linkCache) apply(msgs []syscall.NetlinkMessage) error {
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK && m.Header.Type != unix.RTM_DELLINK {
			continue
		}
		if len(m.Data) < unix.SizeofIfInfomsg {
			return errors.New("link notification: short message")
		}
		if m.Data[0] != unix.AF_UNSPEC {
			continue
		}
		l, err := netlink.LinkDeserialize(nil, m.Data)
		if err != nil {
			return fmt.Errorf("link notification: %w", err)
		}
		// By index: a rename must not leave the old name behind.
		a := l.Attrs()
		if name, ok := c.names[a.Index]; ok {
			delete(c.links, name)
			delete(c.names, a.Index)
		}
		if m.Header.Type == unix.RTM_NEWLINK {
			c.links[a.Name] = l
			c.names[a.Index] = a.Name
		}
	}
	return nil
}
