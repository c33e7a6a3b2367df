// Package kvm is the only place in Ironvisor that issues KVM ioctls. It gives
// typed handles for the system, VM and vCPU file descriptors, mirrors the
// kernel structures it passes (in *_unsafe.go files), and detects which kind
// of KVM the host offers (VMX, SVM or PVM).
package kvm
