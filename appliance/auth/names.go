package auth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// MaxNameLen is the longest name ValidateName accepts, in bytes.
const MaxNameLen = 64

// ErrInvalidName is wrapped by every ValidateName error.
var ErrInvalidName = apiv1.NewError(apiv1.InvalidParameter, "invalid name")

// ValidateName checks a user-chosen name (tenant, image, network, key...):
// 1..MaxNameLen bytes of valid UTF-8, no control or format characters, no
// '/' or '\', not "." and no "..", and no leading or trailing space. Names
// that pass are safe as store keys and as one path element.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: must be 1..%d bytes, got %d", ErrInvalidName, MaxNameLen, len(name))
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	if name == "." || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q: \".\" and \"..\" are not allowed", ErrInvalidName, name)
	}
	for i, r := range name {
		switch {
		case r == '/' || r == '\\':
			return fmt.Errorf("%w: %q: %q at byte %d is not allowed", ErrInvalidName, name, r, i)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return fmt.Errorf("%w: control character %U at byte %d", ErrInvalidName, r, i)
		}
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: %q has leading or trailing space", ErrInvalidName, name)
	}
	return nil
}
