package control

import (
	"context"
	"encoding/json"
	"fmt"
)

// Handle answers one request line. It never panics, whatever the line
// holds, and never returns more than MaxConsoleRead bytes of console.
func (s *Server) Handle(ctx context.Context, line []byte) (resp Response) {
	req, err := DecodeRequest(line)
	resp.ID = req.ID
	if err != nil {
		resp.Error = err.Error()
		return resp
	}
	defer func() {
		// A VM bug must not take the control socket down with it.
		if p := recover(); p != nil {
			resp = Response{ID: req.ID, Error: fmt.Sprintf("%s: internal error: %v", req.Op, p)}
		}
	}()
	switch req.Op {
	case OpStatus:
		st := s.vm.Status()
		resp.Status = &st
	case OpStop:
		var res StopResult
		res, err = s.stop(ctx, req)
		resp.Stop = &res
	case OpReboot:
		var res StopResult
		res, err = s.reboot(ctx, req)
		resp.Stop = &res
	case OpPause:
		err = s.vm.Pause()
	case OpResume:
		err = s.vm.Resume()
	case OpConsole:
		resp.Console = s.console(req)
	case OpInput:
		resp.Input, err = s.consoleInput(ctx, req.Data)
	case OpCounters:
		resp.Counters = s.vm.Counters()
		if resp.Counters == nil {
			resp.Counters = map[string]uint64{}
		}
	}
	if err != nil {
		return Response{ID: req.ID, Error: fmt.Sprintf("%s: %v", req.Op, err)}
	}
	resp.OK = true
	return resp
}

// stop stops the VM gracefully, then by force after the timeout (or at
// once if req.Force).
func (s *Server) stop(ctx context.Context, req Request) (StopResult, error) {
	if !req.Force {
		gctx, cancel := context.WithTimeout(ctx, req.stopTimeout())
		err := s.vm.Stop(gctx, false)
		cancel()
		if err == nil {
			return StopResult{}, nil
		}
		if ctx.Err() != nil {
			return StopResult{}, ctx.Err()
		}
		// Timed out or the graceful request failed: force.
	}
	fctx, cancel := context.WithTimeout(ctx, ForceTimeout)
	defer cancel()
	if err := s.vm.Stop(fctx, true); err != nil {
		return StopResult{Forced: true}, fmt.Errorf("forced stop: %w", err)
	}
	return StopResult{Forced: true}, nil
}

// reboot asks the guest to reboot and waits for its reset, then stops the
// VM by force after the timeout.
func (s *Server) reboot(ctx context.Context, req Request) (StopResult, error) {
	gctx, cancel := context.WithTimeout(ctx, req.stopTimeout())
	err := s.vm.Reboot(gctx)
	cancel()
	if err == nil {
		return StopResult{}, nil
	}
	if ctx.Err() != nil {
		return StopResult{}, ctx.Err()
	}
	return s.stop(ctx, Request{Force: true})
}

// console reads the console within the protocol's limits.
func (s *Server) console(req Request) *ConsoleChunk {
	max := req.Max
	if max == 0 {
		max = DefaultConsoleRead
	}
	data, next := s.vm.Console(req.Offset, max)
	if len(data) > max {
		// Trust the VM no further than the protocol allows.
		next -= int64(len(data) - max)
		data = data[:max]
	}
	if data == nil {
		data = []byte{}
	}
	return &ConsoleChunk{Data: data, Next: next}
}

// encodeRequest renders r as one line.
func encodeRequest(r Request) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
