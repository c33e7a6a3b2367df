package serial

// Counters are the UART's statistics, for the control socket.
type Counters struct {
	TxBytes    uint64 `json:"tx_bytes"`
	RxBytes    uint64 `json:"rx_bytes"`
	RxDropped  uint64 `json:"rx_dropped"`
	Interrupts uint64 `json:"interrupts"`
}

// Each lists the counters under their control-socket names (the VM
// prefixes them with "serial_"), the shape every device's counters have
// (virtio.Counters).
func (c Counters) Each(f func(name string, value uint64)) {
	f("tx_bytes", c.TxBytes)
	f("rx_bytes", c.RxBytes)
	f("rx_dropped", c.RxDropped)
	f("interrupts", c.Interrupts)
}

// Counters returns a snapshot of the statistics.
func (u *UART) Counters() Counters {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counters
}
