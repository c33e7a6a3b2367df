package bootsel

import "sort"

// sortVersions sorts kernel versions newest first, comparing runs of
// digits as numbers ("6.1.0-28" after "6.1.0-9") and the rest as text.
func sortVersions(vs []string) {
	sort.SliceStable(vs, func(i, j int) bool { return compareVersions(vs[i], vs[j]) > 0 })
}

// compareVersions returns -1, 0 or 1 as a is older than, equal to or newer
// than b.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, restA := run(a)
		rb, restB := run(b)
		if c := compareRun(ra, rb); c != 0 {
			return c
		}
		a, b = restA, restB
	}
	switch {
	case a != "":
		return 1
	case b != "":
		return -1
	}
	return 0
}

// run splits s after its leading run of digits or of non-digits.
func run(s string) (string, string) {
	digit := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digit {
		i++
	}
	return s[:i], s[i:]
}

// compareRun compares two runs: numbers by value (any length), digits
// before letters, text bytewise.
func compareRun(a, b string) int {
	da, db := isDigit(a[0]), isDigit(b[0])
	switch {
	case da && db:
		a, b = trimZeros(a), trimZeros(b)
		if len(a) != len(b) {
			return sign(len(a) - len(b))
		}
	case da != db:
		if da {
			return 1
		}
		return -1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trimZeros drops leading zeros, keeping one digit.
func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// sign returns -1, 0 or 1.
func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// isDigit reports whether c is an ASCII digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
