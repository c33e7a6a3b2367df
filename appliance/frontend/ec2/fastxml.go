package ec2

import (
	"encoding/xml"
	"slices"
	"strconv"
)

// The instance answers (DescribeInstances, RunInstances) are the largest
// the endpoint writes: about 1.5 KB of XML per instance. encoding/xml
// walks their struct tags by reflection for every field, which made
// DescribeInstances of 100 instances cost three times GET /v1/instances
// inside the appliance. These encoders write the same bytes directly;
// the struct tags stay the specification, and
// TestFastXMLMatchesEncodingXML checks every field against encoding/xml
// on random values, escaping included.

// fastXML is an answer that writes its own fields' XML.
type fastXML interface {
	appendXML(b []byte) []byte
	// xmlSize is about how many bytes appendXML appends, so that the
	// buffer is allocated once instead of grown by copies.
	xmlSize() int
}

// instanceXMLSize is about the XML of one instance with a group and a
// tag, rounded up.
const instanceXMLSize = 2 << 10

// appendWrapped appends <name xmlns="Namespace">fields</name>, as
// xml.Marshal of wrapped{name, v} writes it.
func appendWrapped(b []byte, name string, v fastXML) []byte {
	b = slices.Grow(b, v.xmlSize()+2*len(name)+len(Namespace)+16)
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, ` xmlns="`...)
	b = appendEscaped(b, Namespace)
	b = append(b, `">`...)
	b = v.appendXML(b)
	return appendEnd(b, name)
}

// byteWriter lets xml.EscapeText append to a byte slice.
type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// appendEscaped appends s escaped as encoding/xml escapes character data.
func appendEscaped(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	w := byteWriter{b}
	xml.EscapeText(&w, []byte(s)) // never fails: byteWriter does not
	return w.b
}

func appendStart(b []byte, name string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	return append(b, '>')
}

func appendEnd(b []byte, name string) []byte {
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendText appends <name>escaped s</name>.
func appendText(b []byte, name, s string) []byte {
	return appendEnd(appendEscaped(appendStart(b, name), s), name)
}

// appendOmitEmpty appends <name>s</name> unless s is "" (",omitempty").
func appendOmitEmpty(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendText(b, name, s)
}

func appendInt(b []byte, name string, v int) []byte {
	return appendEnd(strconv.AppendInt(appendStart(b, name), int64(v), 10), name)
}

func appendBool(b []byte, name string, v bool) []byte {
	return appendEnd(strconv.AppendBool(appendStart(b, name), v), name)
}

// appendGroups appends <groupSet><item>...</item>...</groupSet> (the
// parent is written for an empty set too, as encoding/xml does).
func appendGroups(b []byte, gs []groupRef) []byte {
	b = appendStart(b, "groupSet")
	for _, g := range gs {
		b = appendStart(b, "item")
		b = appendText(b, "groupId", g.GroupID)
		b = appendText(b, "groupName", g.GroupName)
		b = appendEnd(b, "item")
	}
	return appendEnd(b, "groupSet")
}

func (it *instanceItem) appendXML(b []byte) []byte {
	b = appendText(b, "instanceId", it.InstanceID)
	b = appendText(b, "imageId", it.ImageID)
	b = appendStart(b, "instanceState")
	b = appendInt(b, "code", it.State.Code)
	b = appendText(b, "name", it.State.Name)
	b = appendEnd(b, "instanceState")
	b = appendText(b, "privateDnsName", it.PrivateDNSName)
	b = appendText(b, "dnsName", it.DNSName)
	b = appendText(b, "reason", it.Reason)
	b = appendOmitEmpty(b, "keyName", it.KeyName)
	b = appendInt(b, "amiLaunchIndex", it.LaunchIndex)
	b = appendText(b, "instanceType", it.InstanceType)
	b = appendText(b, "launchTime", it.LaunchTime)
	b = appendStart(b, "placement")
	b = appendText(b, "availabilityZone", it.Zone)
	b = appendText(b, "tenancy", it.Tenancy)
	b = appendEnd(b, "placement")
	b = appendStart(b, "monitoring")
	b = appendText(b, "state", it.Monitoring)
	b = appendEnd(b, "monitoring")
	b = appendOmitEmpty(b, "subnetId", it.SubnetID)
	b = appendOmitEmpty(b, "vpcId", it.VpcID)
	b = appendOmitEmpty(b, "privateIpAddress", it.PrivateIP)
	b = appendOmitEmpty(b, "ipAddress", it.PublicIP)
	b = appendGroups(b, it.Groups)
	b = appendStart(b, "stateReason")
	b = appendText(b, "code", it.StateReasonCode)
	b = appendText(b, "message", it.StateReasonMsg)
	b = appendEnd(b, "stateReason")
	b = appendText(b, "architecture", it.Architecture)
	b = appendText(b, "rootDeviceType", it.RootDeviceType)
	b = appendText(b, "rootDeviceName", it.RootDeviceName)
	b = appendText(b, "virtualizationType", it.Virtualization)
	b = appendText(b, "hypervisor", it.Hypervisor)
	b = appendStart(b, "tagSet")
	for _, t := range it.Tags {
		b = appendStart(b, "item")
		b = appendText(b, "key", t.Key)
		b = appendText(b, "value", t.Value)
		b = appendEnd(b, "item")
	}
	b = appendEnd(b, "tagSet")
	b = appendStart(b, "cpuOptions")
	b = appendInt(b, "coreCount", it.CoreCount)
	b = appendInt(b, "threadsPerCore", it.ThreadsPerCore)
	b = appendEnd(b, "cpuOptions")
	b = appendStart(b, "metadataOptions")
	b = appendText(b, "httpTokens", it.HTTPTokens)
	b = appendText(b, "state", it.MetadataState)
	b = appendText(b, "httpEndpoint", it.HTTPEndpoint)
	b = appendEnd(b, "metadataOptions")
	b = appendText(b, "clientToken", it.ClientToken)
	b = appendBool(b, "ebsOptimized", it.EbsOptimized)
	b = appendBool(b, "sourceDestCheck", it.SourceDestCheck)
	b = appendText(b, "platformDetails", it.PlatformDetails)
	b = appendText(b, "currentInstanceBootMode", it.CurrentInstBoot)
	return appendText(b, "usageOperation", it.UsageOperation)
}

func (r *reservation) appendXML(b []byte) []byte {
	b = appendText(b, "reservationId", r.ReservationID)
	b = appendText(b, "ownerId", r.OwnerID)
	b = appendGroups(b, r.Groups)
	b = appendStart(b, "instancesSet")
	for i := range r.Instances {
		b = appendStart(b, "item")
		b = r.Instances[i].appendXML(b)
		b = appendEnd(b, "item")
	}
	return appendEnd(b, "instancesSet")
}

func (d *describeInstancesResponse) appendXML(b []byte) []byte {
	b = appendText(b, "requestId", d.RequestID)
	b = appendStart(b, "reservationSet")
	for i := range d.Reservations {
		b = appendStart(b, "item")
		b = d.Reservations[i].appendXML(b)
		b = appendEnd(b, "item")
	}
	b = appendEnd(b, "reservationSet")
	return appendOmitEmpty(b, "nextToken", d.NextToken)
}

func (r *runInstancesResponse) appendXML(b []byte) []byte {
	b = appendText(b, "requestId", r.RequestID)
	return r.reservation.appendXML(b)
}

func (d *describeInstancesResponse) xmlSize() int {
	return 256 + len(d.Reservations)*(instanceXMLSize+256)
}

func (r *runInstancesResponse) xmlSize() int { return 256 + len(r.Instances)*instanceXMLSize }
