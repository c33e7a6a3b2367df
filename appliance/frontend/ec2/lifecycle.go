package ec2

import (
	"encoding/base64"
	"errors"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// Start, Stop, Reboot and Terminate act on each named instance after
// checking that all exist, and answer each one's previous and current
// state. As on EC2, asking for the state an instance is already in (or
// heading to) is no error.

type stateChange struct {
	InstanceID string        `xml:"instanceId"`
	Current    instanceState `xml:"currentState"`
	Previous   instanceState `xml:"previousState"`
}

type stateChangeResponse struct {
	head
	Instances []stateChange `xml:"instancesSet>item"`
}

type returnResponse struct {
	head
	Return bool `xml:"return"`
}

// transition applies act to each instance of InstanceId.N unless its
// state is in done, and answers the state changes.
func (s *Server) transition(c call, done []lifecycle.State, act func(id string) (lifecycle.Instance, error)) (*stateChangeResponse, error) {
	ids, err := c.p.list("InstanceId")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, missing("InstanceId")
	}
	insts, err := s.owned(c, ids)
	if err != nil {
		return nil, err
	}
	out := &stateChangeResponse{}
	for _, in := range insts {
		cur := in
		skip := false
		for _, d := range done {
			skip = skip || in.State == d
		}
		if !skip {
			if cur, err = act(in.ID); err != nil {
				return nil, instanceObj.err(err)
			}
		}
		out.Instances = append(out.Instances, stateChange{InstanceID: in.ID, Current: stateOf(cur.State), Previous: stateOf(in.State)})
	}
	return out, nil
}

func (s *Server) startInstances(c call) (any, error) {
	return s.transition(c, []lifecycle.State{lifecycle.Pending, lifecycle.Running}, func(id string) (lifecycle.Instance, error) {
		return s.cfg.Orch.Start(c.ctx, c.who, id)
	})
}

func (s *Server) stopInstances(c call) (any, error) {
	force, err := c.p.boolean("Force")
	if err != nil {
		return nil, err
	}
	return s.transition(c, []lifecycle.State{lifecycle.Stopping, lifecycle.Stopped}, func(id string) (lifecycle.Instance, error) {
		return s.cfg.Orch.Stop(c.ctx, c.who, id, force)
	})
}

func (s *Server) terminateInstances(c call) (any, error) {
	return s.transition(c, []lifecycle.State{lifecycle.ShuttingDown, lifecycle.Terminated}, func(id string) (lifecycle.Instance, error) {
		return s.cfg.Orch.Terminate(c.ctx, c.who, id)
	})
}

func (s *Server) rebootInstances(c call) (any, error) {
	_, err := s.transition(c, nil, func(id string) (lifecycle.Instance, error) {
		return s.cfg.Orch.Reboot(c.ctx, c.who, id)
	})
	if err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// modifyInstanceAttribute changes the instance type of a stopped
// instance (InstanceType.Value, or Attribute=instanceType with Value);
// other attributes are not supported.
func (s *Server) modifyInstanceAttribute(c call) (any, error) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	typ := c.p.str("InstanceType.Value")
	if attr := c.p.str("Attribute"); attr != "" {
		if attr != "instanceType" {
			return nil, newError("UnsupportedOperation", "attribute %s cannot be modified here: only instanceType", trim(attr, 64))
		}
		typ = c.p.str("Value")
	}
	if typ == "" {
		return nil, newError("UnsupportedOperation", "only InstanceType can be modified here")
	}
	if _, err := s.owned(c, []string{id}); err != nil {
		return nil, err
	}
	if _, err := s.cfg.Orch.Resize(c.ctx, c.who, id, typ); err != nil {
		if errors.Is(err, apiv1.IncorrectState) {
			return nil, newError("IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id)
		}
		return nil, instanceObj.err(err)
	}
	return &returnResponse{Return: true}, nil
}

// consoleMax is how much of the console GetConsoleOutput answers: its
// last 64 KiB, as EC2.
const consoleMax = 64 << 10

type consoleResponse struct {
	head
	InstanceID string `xml:"instanceId"`
	Timestamp  string `xml:"timestamp"`
	Output     string `xml:"output"`
}

// getConsoleOutput answers the last 64 KiB of the serial console, in
// base64.
func (s *Server) getConsoleOutput(c call) (any, error) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if _, err := s.owned(c, []string{id}); err != nil {
		return nil, err
	}
	var tail []byte
	var off int64
	for range 1024 {
		b, next, ok, err := s.cfg.Orch.Console(c.ctx, c.who, id, off, consoleMax)
		if err != nil {
			return nil, instanceObj.err(err)
		}
		if !ok || len(b) == 0 || next <= off {
			break
		}
		tail = append(tail, b...)
		if len(tail) > consoleMax {
			tail = tail[len(tail)-consoleMax:]
		}
		off = next
	}
	return &consoleResponse{InstanceID: id, Timestamp: ts(s.cfg.Now()), Output: base64.StdEncoding.EncodeToString(tail)}, nil
}

type statusItem struct {
	InstanceID     string        `xml:"instanceId"`
	Zone           string        `xml:"availabilityZone"`
	State          instanceState `xml:"instanceState"`
	SystemStatus   string        `xml:"systemStatus>status"`
	InstanceStatus string        `xml:"instanceStatus>status"`
}

type statusResponse struct {
	head
	Statuses  []statusItem `xml:"instanceStatusSet>item"`
	NextToken string       `xml:"nextToken,omitempty"`
}

// describeInstanceStatus answers the running instances (all with
// IncludeAllInstances), named or all.
func (s *Server) describeInstanceStatus(c call) (any, error) {
	ids, err := c.p.list("InstanceId")
	if err != nil {
		return nil, err
	}
	all, err := c.p.boolean("IncludeAllInstances")
	if err != nil {
		return nil, err
	}
	max, err := c.p.integer("MaxResults", 1000, 5, 1000)
	if err != nil {
		return nil, err
	}
	insts, err := s.owned(c, ids)
	if err != nil {
		return nil, err
	}
	var items []statusItem
	for _, in := range insts {
		if in.State != lifecycle.Running && !all {
			continue
		}
		st := "not-applicable"
		if in.State == lifecycle.Running {
			st = "ok"
		}
		items = append(items, statusItem{InstanceID: in.ID, Zone: s.zone(), State: stateOf(in.State), SystemStatus: st, InstanceStatus: st})
	}
	page, next, err := paginate(items, c.p.str("NextToken"), max, func(it statusItem) string { return it.InstanceID })
	if err != nil {
		return nil, err
	}
	return &statusResponse{Statuses: page, NextToken: next}, nil
}
