package rack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// monitorPrompt ends every answer of QEMU's human monitor.
const monitorPrompt = "(qemu) "

// Monitor sends commands, in one session, to the server's QEMU human
// monitor (a unix socket) and returns their answers. A server whose
// kernel froze still answers: the monitor runs in QEMU's own thread.
func (s *Server) Monitor(ctx context.Context, commands ...string) ([]string, error) {
	if s.monitorPath == "" {
		return nil, fmt.Errorf("rack %s: no monitor", s.opts.Name)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.monitorPath)
	if err != nil {
		return nil, fmt.Errorf("rack %s: monitor: %w", s.opts.Name, err)
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	if _, err := readUntilPrompt(r); err != nil { // the greeting
		return nil, fmt.Errorf("rack %s: monitor: %w", s.opts.Name, err)
	}
	var answers []string
	for _, cmd := range commands {
		if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
			return answers, fmt.Errorf("rack %s: monitor: %w", s.opts.Name, err)
		}
		out, err := readUntilPrompt(r)
		if err != nil {
			return answers, fmt.Errorf("rack %s: monitor %q: %w", s.opts.Name, cmd, err)
		}
		// The monitor echoes the command line first (with terminal escapes).
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		answers = append(answers, strings.ReplaceAll(out, "\r", ""))
	}
	return answers, nil
}

// readUntilPrompt reads up to and without the next monitor prompt.
func readUntilPrompt(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString(' ')
		b.WriteString(line)
		if strings.HasSuffix(b.String(), monitorPrompt) {
			return strings.TrimSuffix(b.String(), monitorPrompt), nil
		}
		if err != nil {
			return b.String(), err
		}
	}
}

// Diagnose describes where the server's CPUs are, for a test that gave
// up on it: each CPU's RIP, HLT, flags and CR3 sampled three times a
// second apart (a CPU spinning in one place shows apart from one that
// halts and one that moves), and the instructions at each CPU's RIP.
// Debian's kernel packages carry no System.map; the RIPs are for the
// linux-image-*-dbg package's.
func (s *Server) Diagnose(ctx context.Context) string {
	var b strings.Builder
	var cpus []cpuState
	for i := 0; i < 3; i++ {
		if i > 0 {
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return b.String()
			case <-t.C:
			}
		}
		out, err := s.Monitor(ctx, "info registers -a")
		if err != nil {
			fmt.Fprintf(&b, "info registers -a: %v\n", err)
			return b.String()
		}
		cpus = cpuStates(out[0])
		fmt.Fprintf(&b, "sample %d:\n", i)
		for _, cpu := range cpus {
			fmt.Fprintf(&b, "  CPU %s RIP=%s HLT=%s EFL=%s CR3=%s\n", cpu.id, cpu.rip, cpu.hlt, cpu.efl, cpu.cr3)
		}
	}
	for _, cpu := range cpus {
		out, err := s.Monitor(ctx, "cpu "+cpu.id, "x/3i $pc")
		if err != nil {
			fmt.Fprintf(&b, "CPU %s: %v\n", cpu.id, err)
			continue
		}
		fmt.Fprintf(&b, "CPU %s at RIP:\n%s", cpu.id, out[1])
	}
	return b.String()
}

// cpuState is what Diagnose prints of one CPU's "info registers".
type cpuState struct{ id, rip, efl, hlt, cr3 string }

// cpuStates picks each CPU's RIP, EFL, HLT and CR3 out of "info registers
// -a" (QEMU's x86 layout: "CPU#1", then "RIP=... RFL=..." and so on).
func cpuStates(out string) []cpuState {
	var cpus []cpuState
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "CPU#") {
			cpus = append(cpus, cpuState{id: strings.TrimPrefix(f, "CPU#")})
			continue
		}
		if len(cpus) == 0 {
			continue
		}
		c := &cpus[len(cpus)-1]
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "RIP":
			c.rip = v
		case "RFL", "EFL":
			c.efl = v
		case "HLT":
			c.hlt = v
		case "CR3":
			c.cr3 = v
		}
	}
	return cpus
}
