package virtio

// Counters is the shape of every device model's counters: a snapshot of
// cumulative values, as a struct with one field per counter, that can
// list itself for the control socket. Every device has a method
// Counters() returning its own such type (see Counted).
type Counters interface {
	// Each calls f once per counter with its name (lower case, words
	// joined by "_", unique within the device: "reads", "rx_packets") and
	// its value.
	Each(f func(name string, value uint64))
}

// Counted is the counters interface every device model implements; C is
// the device's own Counters type. A device asserts it at compile time:
//
//	var _ virtio.Counted[Counters] = (*Device)(nil)
type Counted[C Counters] interface {
	// Counters returns a snapshot of the device's cumulative counters. It
	// is safe to call from any goroutine, at any time.
	Counters() C
}

// Flatten writes c into m with each name prefixed by prefix ("disk0_",
// "net0_", "rng_"): the keys of the control socket's counters answer.
func Flatten(m map[string]uint64, prefix string, c Counters) {
	c.Each(func(name string, v uint64) { m[prefix+name] = v })
}
