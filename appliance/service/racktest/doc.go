// Package racktest runs the service's real-KVM tests (lifecycle,
// networking, resize, the Debian guest, the kill -9 loop) inside
// virtual-rack servers: the host kernel with kvm_amd under nested
// SVM, the service test binary and an ironvisor binary, both built from
// this tree. It has only tests.
package racktest
