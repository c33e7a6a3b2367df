package ec2

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// EC2's ID shapes over the core's. Instances keep their IDs ("i-" and 16
// hex digits); an image "img-X" is "ami-X"; the objects the core names
// rather than numbers get "PREFIX-" and 17 hex digits of the SHA-256 of
// their tenant and name, stable across restarts and distinct per tenant.
// Finding the object of such an ID lists the tenant's objects of that
// kind (tens, not thousands).

// hashID returns prefix-<17 hex digits> for a tenant's named object.
func hashID(prefix, tenant, name string) string {
	sum := sha256.Sum256([]byte(prefix + "\x00" + tenant + "\x00" + name))
	return prefix + "-" + hex.EncodeToString(sum[:])[:17]
}

// The prefixes of the IDs of groups and subnets.
const (
	groupPrefix  = "sg"
	subnetPrefix = "subnet"
)

func groupID(tenant, name string) string   { return hashID(groupPrefix, tenant, name) }
func subnetID(tenant, name string) string  { return hashID(subnetPrefix, tenant, name) }
func vpcID(tenant string) string           { return hashID("vpc", tenant, "") }
func keyPairID(tenant, name string) string { return hashID("key", tenant, name) }
func allocationID(tenant, addr string) string {
	return hashID("eipalloc", tenant, addr)
}

// associationID names one association of an address with an instance:
// a new association is a new ID.
func associationID(tenant, addr, instance string) string {
	return hashID("eipassoc", tenant, addr+"\x00"+instance)
}

// amiID is the EC2 ID of a core image ID.
func amiID(imageID string) string {
	if rest, ok := strings.CutPrefix(imageID, "img-"); ok {
		return "ami-" + rest
	}
	return imageID
}

// imageRef is the core's reference of an EC2 image ID (a name passes
// through: the core accepts IDs and names).
func imageRef(ami string) string {
	if rest, ok := strings.CutPrefix(ami, "ami-"); ok {
		return "img-" + rest
	}
	return ami
}

// reservationID is the reservation of an instance: one each, as the core
// has no reservations.
func reservationID(instanceID string) string {
	return "r-" + strings.TrimPrefix(instanceID, "i-")
}
