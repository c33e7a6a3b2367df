package ec2

import (
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// The catalogue: images, instance types, and the appliance as one region
// with one zone.

type imageItem struct {
	ImageID        string    `xml:"imageId"`
	Location       string    `xml:"imageLocation"`
	State          string    `xml:"imageState"`
	OwnerID        string    `xml:"imageOwnerId"`
	CreationDate   string    `xml:"creationDate"`
	Public         bool      `xml:"isPublic"`
	Architecture   string    `xml:"architecture"`
	ImageType      string    `xml:"imageType"`
	Name           string    `xml:"name"`
	RootDeviceType string    `xml:"rootDeviceType"`
	RootDeviceName string    `xml:"rootDeviceName"`
	Virtualization string    `xml:"virtualizationType"`
	Hypervisor     string    `xml:"hypervisor"`
	BootMode       string    `xml:"bootMode"`
	Tags           []tagItem `xml:"tagSet>item"`
}

type imagesResponse struct {
	head
	Images []imageItem `xml:"imagesSet>item"`
}

// describeImages lists the images (shared by every tenant), named by
// ImageId.N or all, with the filters image-id, name and state.
func (s *Server) describeImages(c call) (any, error) {
	ids, err := c.p.list("ImageId")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	var imgs []images.Image
	if len(ids) > 0 {
		for _, id := range ids {
			img, err := s.cfg.Images.Get(imageRef(id))
			if err != nil {
				return nil, newError(imageObj.notFound, "The image id '[%s]' does not exist", trim(id, 64))
			}
			imgs = append(imgs, img)
		}
	} else if imgs, err = s.cfg.Images.List(); err != nil {
		return nil, err
	}
	tagged, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	out := &imagesResponse{Images: []imageItem{}}
	for _, img := range imgs {
		it := imageItem{ImageID: amiID(img.ID), Location: img.Name, State: "available", OwnerID: "ironvisor",
			CreationDate: ts(img.Created), Public: true, Architecture: "x86_64", ImageType: "machine", Name: img.Name,
			RootDeviceType: "instance-store", RootDeviceName: rootDevice, Virtualization: "hvm", Hypervisor: "ironvisor",
			BootMode: "legacy-bios", Tags: tagItems(tagged[amiID(img.ID)])}
		ok, err := matchAll(fs, map[string][]string{"image-id": {it.ImageID}, "name": {it.Name}, "state": {it.State},
			"architecture": {it.Architecture}, "is-public": {"true"}, "owner-id": {it.OwnerID}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Images = append(out.Images, it)
		}
	}
	return out, nil
}

// matchAll applies filters to an object's fields by filter name, plus
// tag:KEY and tag-key over its tags; an unknown filter is refused.
func matchAll(fs []filter, fields map[string][]string, ts []tagItem) (bool, error) {
	for _, f := range fs {
		got, ok := fields[f.Name]
		switch {
		case ok:
		case f.Name == "tag-key":
			for _, t := range ts {
				got = append(got, t.Key)
			}
		case len(f.Name) > 4 && f.Name[:4] == "tag:":
			for _, t := range ts {
				if t.Key == f.Name[4:] {
					got = append(got, t.Value)
				}
			}
		default:
			return false, invalidValue("The filter '%s' is invalid", trim(f.Name, 64))
		}
		if !anyMatch(f.Values, got) {
			return false, nil
		}
	}
	return true, nil
}

type typeItem struct {
	InstanceType      string   `xml:"instanceType"`
	CurrentGeneration bool     `xml:"currentGeneration"`
	FreeTier          bool     `xml:"freeTierEligible"`
	UsageClasses      []string `xml:"supportedUsageClasses>item"`
	RootDeviceTypes   []string `xml:"supportedRootDeviceTypes>item"`
	Virtualization    []string `xml:"supportedVirtualizationTypes>item"`
	BareMetal         bool     `xml:"bareMetal"`
	Hypervisor        string   `xml:"hypervisor"`
	Architectures     []string `xml:"processorInfo>supportedArchitectures>item"`
	VCPUs             int      `xml:"vCpuInfo>defaultVCpus"`
	Cores             int      `xml:"vCpuInfo>defaultCores"`
	ThreadsPerCore    int      `xml:"vCpuInfo>defaultThreadsPerCore"`
	MemoryMiB         uint64   `xml:"memoryInfo>sizeInMiB"`
	InstanceStorage   bool     `xml:"instanceStorageSupported"`
	BootModes         []string `xml:"supportedBootModes>item"`
}

type typesResponse struct {
	head
	Types []typeItem `xml:"instanceTypeSet>item"`
}

// describeInstanceTypes lists the catalogue's types, named by
// InstanceType.N (each must exist) or all.
func (s *Server) describeInstanceTypes(c call) (any, error) {
	names, err := c.p.list("InstanceType")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	var ts []types.Type
	if len(names) > 0 {
		for _, n := range names {
			t, err := s.cfg.Catalog.Get(n)
			if err != nil {
				return nil, newError("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", trim(n, 64))
			}
			ts = append(ts, t)
		}
	} else if ts, err = s.cfg.Catalog.List(); err != nil {
		return nil, err
	}
	out := &typesResponse{Types: []typeItem{}}
	for _, t := range ts {
		it := typeItem{InstanceType: t.Name, CurrentGeneration: true, UsageClasses: []string{"on-demand"},
			RootDeviceTypes: []string{"instance-store"}, Virtualization: []string{"hvm"}, Hypervisor: "ironvisor",
			Architectures: []string{"x86_64"}, VCPUs: t.VCPUs, Cores: t.VCPUs, ThreadsPerCore: 1,
			MemoryMiB: t.MemBytes >> 20, BootModes: []string{"legacy-bios"}}
		ok, err := matchAll(fs, map[string][]string{"instance-type": {t.Name}}, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Types = append(out.Types, it)
		}
	}
	return out, nil
}

type regionItem struct {
	Name     string `xml:"regionName"`
	Endpoint string `xml:"regionEndpoint"`
	OptIn    string `xml:"optInStatus"`
}

type regionsResponse struct {
	head
	Regions []regionItem `xml:"regionInfo>item"`
}

// describeRegions answers the one region, with the host the client used
// as its endpoint.
func (s *Server) describeRegions(c call) (any, error) {
	return &regionsResponse{Regions: []regionItem{{Name: s.cfg.Region, Endpoint: c.host, OptIn: "opt-in-not-required"}}}, nil
}

type zoneItem struct {
	Name     string   `xml:"zoneName"`
	State    string   `xml:"zoneState"`
	Region   string   `xml:"regionName"`
	ID       string   `xml:"zoneId"`
	Type     string   `xml:"zoneType"`
	Group    string   `xml:"groupName"`
	Border   string   `xml:"networkBorderGroup"`
	OptIn    string   `xml:"optInStatus"`
	Messages []string `xml:"messageSet>item"`
}

type zonesResponse struct {
	head
	Zones []zoneItem `xml:"availabilityZoneInfo>item"`
}

// describeAvailabilityZones answers the one zone.
func (s *Server) describeAvailabilityZones(c call) (any, error) {
	z := s.zone()
	return &zonesResponse{Zones: []zoneItem{{Name: z, State: "available", Region: s.cfg.Region, ID: z, Type: "availability-zone",
		Group: s.cfg.Region, Border: s.cfg.Region, OptIn: "opt-in-not-required", Messages: []string{}}}}, nil
}
