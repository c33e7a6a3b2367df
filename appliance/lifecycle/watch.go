package lifecycle

// watch is the channel that the next committed write of one instance
// closes, and how many waiters hold it.
type watch struct {
	ch   chan struct{}
	refs int
}

// Watch returns a channel that is closed when a transaction that may write
// instance id's record next commits (any event, a reason, its removal:
// Manager.update), and a release function
// the caller must call when it stops waiting. A waiter takes the channel
// before it reads the instance, so that no write between the read and the
// wait is missed:
//
//	changed, release := m.Watch(id)
//	defer release()
//	in, err := m.Get(id)
//	// ... if in is not what the caller waits for:
//	<-changed
//
// Only waiters on id wake, so a tenant's waits cost nothing to writes of
// other instances; the map holds an entry only while someone waits.
func (m *Manager) Watch(id string) (<-chan struct{}, func()) {
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	w := m.watches[id]
	if w == nil {
		w = &watch{ch: make(chan struct{})}
		m.watches[id] = w
	}
	w.refs++
	return w.ch, func() {
		m.watchMu.Lock()
		defer m.watchMu.Unlock()
		if w.refs--; w.refs == 0 && m.watches[id] == w {
			delete(m.watches, id)
		}
	}
}

// wake closes the channels of the waiters on id (none for "") after a
// committed write.
func (m *Manager) wake(id string) {
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	if w := m.watches[id]; w != nil {
		close(w.ch)
		delete(m.watches, id)
	}
}
