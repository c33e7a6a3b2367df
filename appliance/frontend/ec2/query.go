package ec2

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The EC2 Query protocol's request encoding: form parameters, where a list
// is Name.1, Name.2... and a list of structures Name.N.Member (EC2 API
// Reference, "Query requests"; the SDKs' ec2query serialisers). Every
// value is client-controlled: the decoder bounds counts and indexes, and
// a malformed one is an InvalidParameterValue, never a panic.

// Decoder bounds.
const (
	// MaxParams bounds the parameters of one request.
	MaxParams = 2000
	// MaxIndex bounds N in Name.N.
	MaxIndex = 1000
)

// params are the decoded parameters of one request, or of one member of
// a list of structures.
type params map[string]string

// decodeParams turns a form into params: one value per name (a repeated
// name is malformed), at most MaxParams.
func decodeParams(form url.Values) (params, error) {
	if len(form) > MaxParams {
		return nil, invalidValue("more than %d parameters", MaxParams)
	}
	p := make(params, len(form))
	for k, vs := range form {
		if len(vs) != 1 {
			return nil, invalidValue("parameter %q given %d times", k, len(vs))
		}
		p[k] = vs[0]
	}
	return p, nil
}

// str returns a parameter, "" when absent.
func (p params) str(name string) string { return p[name] }

// has reports whether a parameter is present.
func (p params) has(name string) bool { _, ok := p[name]; return ok }

// integer returns a parameter as an int in [min, max], def when absent.
func (p params) integer(name string, def, min, max int) (int, error) {
	s, ok := p[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, invalidValue("%s %q: want an integer from %d to %d", name, s, min, max)
	}
	return n, nil
}

// boolean returns a parameter as a bool, false when absent.
func (p params) boolean(name string) (bool, error) {
	s, ok := p[name]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, invalidValue("%s %q: want true or false", name, s)
	}
	return b, nil
}

// indexed returns, in index order, the parameters named prefix.N (N from
// 1 to MaxIndex) with rest as what follows "prefix.N" ("" or ".Member...").
func (p params) indexed(prefix string) (map[int]map[string]string, error) {
	out := map[int]map[string]string{}
	for k, v := range p {
		after, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, rest, dotted := strings.Cut(after, ".")
		if dotted {
			rest = "." + rest
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > MaxIndex || strconv.Itoa(n) != num {
			return nil, invalidValue("parameter %q: the index must be 1 to %d", k, MaxIndex)
		}
		if out[n] == nil {
			out[n] = map[string]string{}
		}
		out[n][rest] = v
	}
	return out, nil
}

// sortedKeys returns the indexes in order.
func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// list returns the values of prefix.1, prefix.2... in index order.
func (p params) list(prefix string) ([]string, error) {
	idx, err := p.indexed(prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range sortedKeys(idx) {
		v, ok := idx[n][""]
		if !ok || len(idx[n]) != 1 {
			return nil, invalidValue("parameter %s.%d: want a plain value", prefix, n)
		}
		out = append(out, v)
	}
	return out, nil
}

// members returns the structures prefix.N.*, each as its own params (the
// member names without "prefix.N."), in index order.
func (p params) members(prefix string) ([]params, error) {
	idx, err := p.indexed(prefix)
	if err != nil {
		return nil, err
	}
	var out []params
	for _, n := range sortedKeys(idx) {
		m := params{}
		for rest, v := range idx[n] {
			name, ok := strings.CutPrefix(rest, ".")
			if !ok {
				return nil, invalidValue("parameter %s.%d: want %s.%d.Member", prefix, n, prefix, n)
			}
			m[name] = v
		}
		out = append(out, m)
	}
	return out, nil
}

// filter is one Filter.N: a name and its values (any may match).
type filter struct {
	Name   string
	Values []string
}

// describeArgs reads what a paginated Describe action takes: the IDs
// named idKey.N, its filters and MaxResults (5 to 1000, default 1000).
func (p params) describeArgs(idKey string) (ids []string, fs []filter, max int, err error) {
	if ids, err = p.list(idKey); err != nil {
		return nil, nil, 0, err
	}
	if fs, err = p.filters(); err != nil {
		return nil, nil, 0, err
	}
	if max, err = p.integer("MaxResults", 1000, 5, 1000); err != nil {
		return nil, nil, 0, err
	}
	return ids, fs, max, nil
}

// filters decodes Filter.N.Name and Filter.N.Value.M.
func (p params) filters() ([]filter, error) {
	ms, err := p.members("Filter")
	if err != nil {
		return nil, err
	}
	out := make([]filter, 0, len(ms))
	for _, m := range ms {
		vals, err := m.list("Value")
		if err != nil {
			return nil, err
		}
		if m.str("Name") == "" {
			return nil, invalidValue("a filter has no Name")
		}
		out = append(out, filter{Name: m.str("Name"), Values: vals})
	}
	return out, nil
}

// ec2Error is an answer in EC2's error format.
type ec2Error struct {
	Code    string
	Message string
	// Status is the HTTP status; 400 when zero.
	Status int
}

func (e *ec2Error) Error() string { return e.Code + ": " + e.Message }

// newError returns an ec2Error with code and a formatted message.
func newError(code, format string, a ...any) *ec2Error {
	return &ec2Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// invalidValue is EC2's InvalidParameterValue.
func invalidValue(format string, a ...any) *ec2Error {
	return newError("InvalidParameterValue", format, a...)
}

// missing is EC2's MissingParameter.
func missing(name string) *ec2Error {
	return newError("MissingParameter", "The request must contain the parameter %s", name)
}

// required returns a parameter that must be present and non-empty.
func (p params) required(name string) (string, error) {
	v := p.str(name)
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}
