package qcow2

// lru is a tiny least-recently-used cache of byte slices keyed by number.
// It is not safe for concurrent use; Image guards it with its mutex.
type lru struct {
	max   int
	keys  []uint64 // most recent last
	items map[uint64][]byte
}

// newLRU returns a cache holding at most max items.
func newLRU(max int) lru {
	return lru{max: max, items: make(map[uint64][]byte, max)}
}

// get returns the item for k, or nil, and marks it most recently used.
func (c *lru) get(k uint64) []byte {
	v, ok := c.items[k]
	if !ok {
		return nil
	}
	c.touch(k)
	return v
}

// put stores v under k, evicting the least recently used item when full.
func (c *lru) put(k uint64, v []byte) {
	if _, ok := c.items[k]; ok {
		c.items[k] = v
		c.touch(k)
		return
	}
	if len(c.keys) >= c.max {
		delete(c.items, c.keys[0])
		c.keys = c.keys[1:]
	}
	c.items[k] = v
	c.keys = append(c.keys, k)
}

// touch moves k to the most recently used end.
func (c *lru) touch(k uint64) {
	for i, x := range c.keys {
		if x == k {
			copy(c.keys[i:], c.keys[i+1:])
			c.keys[len(c.keys)-1] = k
			return
		}
	}
}
