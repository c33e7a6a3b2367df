package ec2

import (
	"encoding/base64"
	"fmt"
)

// The read calls Terraform's AWS provider makes on every refresh of an
// instance beside DescribeInstances: DescribeInstanceAttribute for a few
// attributes (each with its <value> element present), DescribeVolumes and
// DescribeNetworkInterfaces. Instances have no EBS volumes or ENIs of
// their own here, so those two answer empty lists.

type attrValue struct {
	Value string `xml:"value"`
}

type instanceAttributeResponse struct {
	head
	InstanceID            string     `xml:"instanceId"`
	InstanceType          *attrValue `xml:"instanceType,omitempty"`
	UserData              *attrValue `xml:"userData,omitempty"`
	ShutdownBehavior      *attrValue `xml:"instanceInitiatedShutdownBehavior,omitempty"`
	DisableAPIStop        *attrValue `xml:"disableApiStop,omitempty"`
	DisableAPITermination *attrValue `xml:"disableApiTermination,omitempty"`
	RootDeviceName        *attrValue `xml:"rootDeviceName,omitempty"`
}

// describeInstanceAttribute answers one attribute of an instance.
func (s *Server) describeInstanceAttribute(c call) (any, error) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	attr, err := c.p.required("Attribute")
	if err != nil {
		return nil, err
	}
	insts, err := s.owned(c, []string{id})
	if err != nil {
		return nil, err
	}
	in := insts[0]
	out := &instanceAttributeResponse{InstanceID: in.ID}
	switch attr {
	case "instanceType":
		out.InstanceType = &attrValue{in.Type.Name}
	case "userData":
		out.UserData = &attrValue{base64.StdEncoding.EncodeToString(in.UserData)}
	case "instanceInitiatedShutdownBehavior":
		out.ShutdownBehavior = &attrValue{"stop"}
	case "disableApiStop":
		out.DisableAPIStop = &attrValue{"false"}
	case "disableApiTermination":
		out.DisableAPITermination = &attrValue{"false"}
	case "rootDeviceName":
		out.RootDeviceName = &attrValue{rootDevice}
	default:
		return nil, invalidValue("Value (%s) for parameter attribute is invalid.", trim(attr, 64))
	}
	return out, nil
}

type volumesResponse struct {
	head
	Volumes []struct{} `xml:"volumeSet>item"`
}

// describeVolumes answers no volumes: an instance's disk is not an EBS
// volume of its own here.
func (s *Server) describeVolumes(c call) (any, error) {
	if err := checkFilters(c); err != nil {
		return nil, err
	}
	return &volumesResponse{Volumes: []struct{}{}}, nil
}

type interfacesResponse struct {
	head
	Interfaces []struct{} `xml:"networkInterfaceSet>item"`
}

// describeNetworkInterfaces answers no ENIs: NICs are part of their
// instance here.
func (s *Server) describeNetworkInterfaces(c call) (any, error) {
	if err := checkFilters(c); err != nil {
		return nil, err
	}
	return &interfacesResponse{Interfaces: []struct{}{}}, nil
}

// checkFilters decodes the request's filters only to refuse malformed ones.
func checkFilters(c call) error {
	_, err := c.p.filters()
	if err != nil {
		return fmt.Errorf("filters: %w", err)
	}
	return nil
}
