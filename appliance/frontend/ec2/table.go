package ec2

// table binds each supported Action to its handler. Every other action is
// UnsupportedOperation.
func (s *Server) table() map[string]action {
	return map[string]action{
		"RunInstances":                  s.runInstances,
		"DescribeInstances":             s.describeInstances,
		"DescribeInstanceStatus":        s.describeInstanceStatus,
		"StartInstances":                s.startInstances,
		"StopInstances":                 s.stopInstances,
		"RebootInstances":               s.rebootInstances,
		"TerminateInstances":            s.terminateInstances,
		"ModifyInstanceAttribute":       s.modifyInstanceAttribute,
		"GetConsoleOutput":              s.getConsoleOutput,
		"DescribeInstanceAttribute":     s.describeInstanceAttribute,
		"DescribeVolumes":               s.describeVolumes,
		"DescribeNetworkInterfaces":     s.describeNetworkInterfaces,
		"DescribeImages":                s.describeImages,
		"DescribeInstanceTypes":         s.describeInstanceTypes,
		"DescribeRegions":               s.describeRegions,
		"DescribeAvailabilityZones":     s.describeAvailabilityZones,
		"CreateSecurityGroup":           s.createSecurityGroup,
		"DescribeSecurityGroups":        s.describeSecurityGroups,
		"DeleteSecurityGroup":           s.deleteSecurityGroup,
		"AuthorizeSecurityGroupIngress": s.authorizeIngress,
		"AuthorizeSecurityGroupEgress":  s.authorizeEgress,
		"RevokeSecurityGroupIngress":    s.revokeIngress,
		"RevokeSecurityGroupEgress":     s.revokeEgress,
		"CreateKeyPair":                 s.createKeyPair,
		"ImportKeyPair":                 s.importKeyPair,
		"DescribeKeyPairs":              s.describeKeyPairs,
		"DeleteKeyPair":                 s.deleteKeyPair,
		"DescribeVpcs":                  s.describeVpcs,
		"DescribeSubnets":               s.describeSubnets,
		"DescribeAddresses":             s.describeAddresses,
		"AssociateAddress":              s.associateAddress,
		"DisassociateAddress":           s.releaseAddress,
		"ReleaseAddress":                s.releaseAddress,
		"CreateTags":                    s.createTags,
		"DeleteTags":                    s.deleteTags,
		"DescribeTags":                  s.describeTags,
	}
}
