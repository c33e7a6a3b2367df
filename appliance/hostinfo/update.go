package hostinfo

import "time"

// Update is the self-update's part of the host document: the two boot
// slots on the EFI system partition, which one booted, and how the last
// update ended.
type Update struct {
	// Slots are the slot files, newest generation first.
	Slots []Slot `json:"slots"`
	// Booted names the slot this boot came from ("a" or "b").
	Booted        string `json:"booted"`
	BootedVersion string `json:"booted_version"`
	// Trial is true while the booted slot must still prove healthy (it
	// is blessed then); its deadline is TrialDeadline.
	Trial         bool      `json:"trial"`
	TrialDeadline time.Time `json:"trial_deadline,omitzero"`
	// Pending is an update installed and waiting for its reboot.
	Pending *UpdateResult `json:"pending,omitempty"`
	// Last is how the last update ended: "updated" or "rolled back".
	Last *UpdateResult `json:"last,omitempty"`
	// Error says why updates are not possible here (no slotted ESP), or
	// what went wrong reading the slots.
	Error string `json:"error,omitempty"`
}

// Slot is one boot slot.
type Slot struct {
	Name       string `json:"name"` // "a" or "b"
	File       string `json:"file"` // in /EFI/Linux on the ESP
	Generation int    `json:"generation"`
	Version    string `json:"version"`
	// State is "good" (blessed), "trial" (tries left) or "bad" (none
	// left: the loader falls back from it).
	State     string `json:"state"`
	TriesLeft *int   `json:"tries_left,omitempty"`
	Booted    bool   `json:"booted"`
	SizeBytes int64  `json:"size_bytes"`
}

// UpdateResult describes an update: the slot it went to, from which, and
// how it ended.
type UpdateResult struct {
	Outcome     string    `json:"outcome"` // "pending", "updated" or "rolled back"
	Slot        string    `json:"slot"`
	Generation  int       `json:"generation"`
	Version     string    `json:"version"`
	SHA256      string    `json:"sha256"`
	FromSlot    string    `json:"from_slot"`
	FromVersion string    `json:"from_version"`
	Tries       int       `json:"tries"`
	Requested   time.Time `json:"requested"`
	Ended       time.Time `json:"ended,omitzero"`
	// Reason says why a rollback happened.
	Reason string `json:"reason,omitempty"`
	// Resumed are the instances started again after the reboot.
	Resumed []string `json:"resumed,omitempty"`
}
