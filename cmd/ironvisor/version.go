package main

import (
	"fmt"

	"github.com/ironvisor/ironvisor/appliance/version"
)

// runVersion prints the build version.
func runVersion([]string) int {
	fmt.Println(version.String())
	return 0
}
