// Package racktest runs the supervisor's real-KVM test (TestSupervisorOnKVM)
// inside a virtual-rack server: the host kernel with kvm_amd under nested
// SVM, the supervisor test binary and an ironvisor binary, both
// built from this tree. It has only tests.
package racktest
