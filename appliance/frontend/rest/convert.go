package rest

import (
	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
	"github.com/ironvisor/ironvisor/appliance/images"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/appliance/metering"
	"github.com/ironvisor/ironvisor/appliance/types"
	"github.com/ironvisor/ironvisor/netcfg"
)

// The core's objects rendered as the contract's types. A nil slice stays
// nil (JSON null), as the core's own objects encoded before the contract.

// each maps f over in, keeping nil as nil.
func each[S, T any](in []S, f func(S) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// instanceView renders an instance (its user data is not echoed).
func instanceView(in lifecycle.Instance) apiv1.Instance {
	ips := in.IPs
	if ips == nil {
		ips = []string{}
	}
	return apiv1.Instance{
		ID: in.ID, TenantID: in.TenantID, State: string(in.State), Reason: in.Reason,
		Type: in.Type.Name, VCPUs: in.Type.VCPUs, MemBytes: in.Type.MemBytes, Image: in.Image,
		IPs: ips, LaunchTime: in.LaunchTime, CreateTime: in.CreateTime, Network: in.Network,
		SecurityGroups: in.SecurityGroups, KeyName: in.KeyName, RootSizeBytes: in.RootSize,
	}
}

// instanceViews renders instances as a list that is never null.
func instanceViews(ins []lifecycle.Instance) []apiv1.Instance {
	out := make([]apiv1.Instance, 0, len(ins))
	for _, in := range ins {
		out = append(out, instanceView(in))
	}
	return out
}

func tenantView(t auth.Tenant) apiv1.Tenant {
	return apiv1.Tenant{ID: t.ID, Name: t.Name, Created: t.Created}
}

func tokenView(t auth.Token) apiv1.Token {
	return apiv1.Token{ID: t.ID, TenantID: t.TenantID, Admin: t.Admin, Created: t.Created}
}

func typeView(t types.Type) apiv1.InstanceType {
	return apiv1.InstanceType{Name: t.Name, VCPUs: t.VCPUs, MemBytes: t.MemBytes, Builtin: t.Builtin}
}

// fileView renders an image file, nil for none.
func fileView(f *images.File) *apiv1.ImageFile {
	if f == nil {
		return nil
	}
	return &apiv1.ImageFile{Size: f.Size, SHA256: f.SHA256}
}

func imageView(i images.Image) apiv1.Image {
	out := apiv1.Image{ID: i.ID, Name: i.Name, KernelFormat: i.KernelFormat, Kernel: *fileView(&i.Kernel),
		Initrd: fileView(i.Initrd), Disk: fileView(i.Disk), Cmdline: i.Cmdline, Created: i.Created}
	if i.Source != nil {
		out.Source = &apiv1.ImageSource{Format: i.Source.Format, Size: i.Source.Size, SHA256: i.Source.SHA256, URL: i.Source.URL}
	}
	if i.Boot != nil {
		out.Boot = &apiv1.ImageBoot{KernelPath: i.Boot.KernelPath, InitrdPath: i.Boot.InitrdPath, Root: i.Boot.Root,
			RootPartition: i.Boot.RootPartition}
	}
	return out
}

func importView(j images.ImportJob) apiv1.ImageImport {
	out := apiv1.ImageImport{ID: j.ID, Name: j.Name, URL: j.URL, State: j.State, Phase: j.Phase, BytesDone: j.Done,
		BytesTotal: j.Total, Error: j.Error, Code: j.Code, Created: j.Created, Finished: j.Finished}
	if j.Image != nil {
		img := imageView(*j.Image)
		out.Image = &img
	}
	return out
}

func networkView(n netcfg.Network) apiv1.Network {
	return apiv1.Network{Name: n.Name, Tenant: n.Tenant, Index: n.Index, CIDR: n.CIDR, NoNAT: n.NoNAT}
}

func ruleView(r netcfg.Rule) apiv1.Rule {
	return apiv1.Rule{Proto: string(r.Proto), FromPort: r.FromPort, ToPort: r.ToPort, CIDR: r.CIDR, Group: r.Group}
}

// netRules is the inverse of ruleView over a list.
func netRules(rs []apiv1.Rule) []netcfg.Rule {
	return each(rs, func(r apiv1.Rule) netcfg.Rule {
		return netcfg.Rule{Proto: netcfg.Proto(r.Proto), FromPort: r.FromPort, ToPort: r.ToPort, CIDR: r.CIDR, Group: r.Group}
	})
}

func groupView(g netcfg.SecurityGroup) apiv1.SecurityGroup {
	return apiv1.SecurityGroup{Name: g.Name, Tenant: g.Tenant, Description: g.Description, Ingress: each(g.Ingress, ruleView), Egress: each(g.Egress, ruleView)}
}

func forwardView(f domain.PortForward) apiv1.PortForward {
	return apiv1.PortForward{ID: f.ID, Tenant: f.Tenant, Instance: f.Instance, Network: f.Network, Proto: string(f.Proto),
		PublicPort: f.PublicPort, Port: f.Port, CreateTime: f.CreateTime}
}

func publicIPView(p domain.PublicIP) apiv1.PublicIP {
	return apiv1.PublicIP{Address: p.Address, Tenant: p.Tenant, Instance: p.Instance, Network: p.Network, Held: p.Held, CreateTime: p.CreateTime}
}

func keyPairView(k domain.KeyPair) apiv1.KeyPair {
	return apiv1.KeyPair{Name: k.Name, Tenant: k.Tenant, Type: k.Type, PublicKey: k.PublicKey,
		Fingerprint: k.Fingerprint, CreateTime: k.CreateTime}
}

func totalsView(t metering.Totals) apiv1.Totals {
	return apiv1.Totals{Seconds: t.Seconds(), VCPUSeconds: t.VCPUSeconds(), GiBSeconds: t.GiBSeconds(),
		RunningMs: t.RunningMillis, VCPUMs: t.VCPUMillis, MiBMs: t.MiBMillis}
}

// byTypeView renders per-type totals, keeping nil as nil.
func byTypeView(m map[string]metering.Totals) map[string]apiv1.Totals {
	if m == nil {
		return nil
	}
	out := make(map[string]apiv1.Totals, len(m))
	for k, v := range m {
		out[k] = totalsView(v)
	}
	return out
}

func usageView(r metering.Report) apiv1.Usage {
	return apiv1.Usage{From: r.From, To: r.To, AsOf: r.AsOf, Tenants: each(r.Tenants, func(t metering.TenantUsage) apiv1.TenantUsage {
		return apiv1.TenantUsage{TenantID: t.TenantID, Total: totalsView(t.Total), ByType: byTypeView(t.ByType),
			Instances: each(t.Instances, func(i metering.InstanceUsage) apiv1.InstanceUsage {
				return apiv1.InstanceUsage{InstanceID: i.InstanceID, TenantID: i.TenantID, Total: totalsView(i.Total), ByType: byTypeView(i.ByType)}
			})}
	})}
}

// viewOf renders a (T, error) result with view.
func viewOf[T, V any](v T, err error, view func(T) V) (V, error) {
	if err != nil {
		var zero V
		return zero, err
	}
	return view(v), nil
}

// viewsOf renders a ([]T, error) result with view, keeping nil as nil.
func viewsOf[T, V any](vs []T, err error, view func(T) V) ([]V, error) {
	if err != nil {
		return nil, err
	}
	return each(vs, view), nil
}
