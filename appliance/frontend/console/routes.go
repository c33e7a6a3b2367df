package console

// table is every page and form of the console, one row each: the mux,
// the access checks and the tests (every POST refuses a forged form,
// every page renders for the admin and a tenant) all come from it.
func (s *Server) table() []route {
	p := Prefix
	return []route{
		{"GET", p + "login", public, s.getLogin},
		{"POST", p + "login", public, s.postLogin},
		{"POST", p + "logout", member, s.postLogout},
		{"GET", p + "{$}", member, s.index},
		{"GET", p + "host", member, s.getHost},

		{"GET", p + "instances", member, s.listInstances},
		{"GET", p + "instances/new", member, s.newInstance},
		{"POST", p + "instances", member, s.launch},
		{"GET", p + "instances/{id}", member, s.getInstance},
		{"GET", p + "instances/{id}/output", member, s.output},
		{"POST", p + "instances/{id}/input", member, s.input},
		{"GET", p + "instances/{id}/{action}", member, s.confirm},
		{"POST", p + "instances/{id}/{action}", member, s.act},

		{"GET", p + "networks", member, s.listNetworks},
		{"POST", p + "networks", member, s.createNetwork},
		{"POST", p + "networks/{name}/delete", member, s.deleteNetwork},
		{"GET", p + "security-groups", member, s.listGroups},
		{"POST", p + "security-groups", member, s.createGroup},
		{"GET", p + "security-groups/{name}", member, s.getGroup},
		{"POST", p + "security-groups/{name}", member, s.putGroup},
		{"POST", p + "security-groups/{name}/delete", member, s.deleteGroup},
		{"GET", p + "port-forwards", member, s.listForwards},
		{"POST", p + "port-forwards", member, s.createForward},
		{"POST", p + "port-forwards/{id}/delete", member, s.deleteForward},
		{"GET", p + "public-ips", member, s.listPublicIPs},
		{"POST", p + "public-ips", member, s.allocatePublicIP},
		{"POST", p + "public-ips/{address}/delete", member, s.releasePublicIP},

		{"GET", p + "images", member, s.listImages},
		{"POST", p + "images/{id}/delete", admin, s.deleteImage},
		{"POST", p + "image-imports", admin, s.importImage},
		{"GET", p + "key-pairs", member, s.listKeyPairs},
		{"POST", p + "key-pairs", member, s.importKeyPair},
		{"POST", p + "key-pairs/{name}/delete", member, s.deleteKeyPair},
		{"GET", p + "usage", member, s.usage},

		{"GET", p + "tenants", member, s.listTenants},
		{"POST", p + "tenants", admin, s.createTenant},
		{"GET", p + "tenants/{id}", member, s.getTenant},
		{"POST", p + "tenants/{id}/tokens", member, s.issueToken},
		{"POST", p + "tenants/{id}/tokens/{token}/revoke", member, s.revokeToken},
	}
}
