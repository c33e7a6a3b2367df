package cli

import (
	"io"
	"log/slog"

	"github.com/ironvisor/ironvisor/vmm/vmlog"
)

// newLog returns the VMM's logger on w (its stderr, the supervisor's
// vmm.log on the data disk): warnings and errors only, each kind of
// message rate-limited and the whole capped (package vmlog), because a
// guest can cause most of them.
func newLog(w io.Writer) *slog.Logger {
	return vmlog.New(w, slog.LevelWarn, vmlog.Limits{})
}
