package ec2

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
)

// checkQueryErr: a decoding step either succeeds or fails with an
// ec2Error (an EC2 code and a 4xx), never another error or a panic.
func checkQueryErr(t *testing.T, err error) {
	t.Helper()
	var e *ec2Error
	if err != nil && (!errors.As(err, &e) || e.Code == "" || e.Status >= 500) {
		t.Fatalf("decoding error without an EC2 code: %v", err)
	}
}

// FuzzQueryDecoder: any form body decodes into parameters, lists,
// structures, filters, tags and IpPermissions without a panic, and every
// refusal is an EC2 client error.
func FuzzQueryDecoder(f *testing.F) {
	f.Add("Action=DescribeInstances&Filter.1.Name=tag%3AName&Filter.1.Value.1=web&InstanceId.1=i-1&MaxResults=5")
	f.Add("TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=b")
	f.Add("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0")
	f.Add("Filter.01.Name=x&Filter.99999.Value=1&InstanceId.0=a&InstanceId.1.x=b&A=1&A=2")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		p, err := decodeParams(form)
		checkQueryErr(t, err)
		if err != nil {
			return
		}
		_, err = p.list("InstanceId")
		checkQueryErr(t, err)
		_, err = p.filters()
		checkQueryErr(t, err)
		_, err = p.integer("MaxResults", 1000, 5, 1000)
		checkQueryErr(t, err)
		_, err = p.boolean("Force")
		checkQueryErr(t, err)
		ms, err := p.members("TagSpecification")
		checkQueryErr(t, err)
		for _, m := range ms {
			_, err = tagList(m, "Tag")
			checkQueryErr(t, err)
		}
		perms, err := p.members("IpPermissions")
		checkQueryErr(t, err)
		for _, m := range perms {
			_, err = ruleBase(m)
			checkQueryErr(t, err)
		}
	})
}

func TestQueryShapes(t *testing.T) {
	form, _ := url.ParseQuery("Filter.2.Name=b&Filter.2.Value.1=y&Filter.1.Name=a&Filter.1.Value.2=x2&Filter.1.Value.1=x1&InstanceId.10=c&InstanceId.2=b")
	p, err := decodeParams(form)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := p.filters()
	if err != nil || fmt.Sprint(fs) != "[{a [x1 x2]} {b [y]}]" {
		t.Fatalf("filters %v %v", fs, err)
	}
	ids, err := p.list("InstanceId")
	if err != nil || fmt.Sprint(ids) != "[b c]" {
		t.Fatalf("list %v %v", ids, err)
	}
	for _, bad := range []string{"InstanceId.0=a", "InstanceId.01=a", "InstanceId.1001=a", "InstanceId.x=a", "InstanceId.1.Y=a"} {
		form, _ := url.ParseQuery(bad)
		p, _ := decodeParams(form)
		if _, err := p.list("InstanceId"); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{{"web", "web", true}, {"w*", "web", true}, {"*b", "web", true}, {"w?b", "web", true}, {"*", "", true},
		{"w?", "web", false}, {"x*", "web", false}, {"*e*", "web", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}} {
		if glob(c.p, c.s) != c.want {
			t.Errorf("glob(%q, %q) != %v", c.p, c.s, c.want)
		}
	}
}

func TestPaginateTokensNeverRepeat(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	id := func(s string) string { return s }
	var got []string
	seen := map[string]bool{}
	tok := ""
	for {
		page, next, err := paginate(items, tok, 2, id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		if seen[next] {
			t.Fatalf("token %q repeated", next)
		}
		seen[next], tok = true, next
	}
	if fmt.Sprint(got) != "[a b c d e]" {
		t.Fatalf("pages gave %v", got)
	}
	if _, _, err := paginate(items, "!!", 2, id); err == nil {
		t.Fatal("a forged token was accepted")
	}
}
