package gpt

import "github.com/ironvisor/ironvisor/appliance/images/imagetest"

// testPart is a partition a test disk holds.
type testPart = imagetest.Part

// debianParts is the layout of Debian's and Ubuntu's cloud images scaled
// down: root is entry 1 after the others, BIOS boot is 14, ESP is 15.
var debianParts = []testPart{
	{Index: 1, Type: TypeLinuxFilesystem, First: 300, Last: 1900, Name: "root"},
	{Index: 14, Type: TypeBIOSBoot, First: 34, Last: 99},
	{Index: 15, Type: TypeESP, First: 100, Last: 299, Name: "EFI system partition ü"},
}

// makeDisk returns a GPT disk of sectors sectors of ss bytes holding parts.
func makeDisk(ss int, sectors uint64, parts []testPart) []byte {
	return imagetest.GPTDisk(ss, sectors, parts)
}
