// Package racktest runs the service's real-KVM test (TestServiceOnKVM)
// inside a virtual-rack server: the host kernel with kvm_amd under nested
// SVM, the service test binary and an ironvisor binary, both built from
// this tree. It has only tests.
package racktest
