package auth

import (
	"strings"
	"testing"
)

func TestParseJID(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{in: "alice@localhost", want: "alice@localhost"},
		{in: "Alice@Example.ORG/Phone", want: "alice@example.org/Phone"},
		{in: "alice@example.org./r", want: "alice@example.org/r"},
		{in: "x@[::1]/r", want: "x@[::1]/r"},
		{in: "x@[0:0::1]", want: "x@[::1]"},
		{in: "x@127.0.0.1", want: "x@127.0.0.1"},
		{in: "\u00c4@B\u00fccher.de", want: "\u00e4@b\u00fccher.de"},
		{in: "localhost", want: "localhost"},
		{in: "a@b/c/d", want: "a@b/c/d"},
		{in: "a@b/ spaced resource ", want: "a@b/ spaced resource "},
		{in: "", err: "empty"},
		{in: "@x", err: "empty local part"},
		{in: "a@b/", err: "empty resource"},
		{in: "a@", err: "empty domain"},
		{in: "a b@c", err: "local part"},
		{in: "a'b@c", err: "forbidden character"},
		{in: "a<b@c", err: "forbidden character"},
		{in: "a@b@c", err: "domain"},
		{in: "a@b c", err: "domain"},
		{in: "a@b..c", err: "domain"},
		{in: "a@[::1", err: "IPv6"},
		{in: "a@[1.2.3.4]", err: "IPv6"},
		{in: strings.Repeat("a", 1024) + "@b", err: "local part length"},
		{in: "a@b/" + strings.Repeat("r", 1024), err: "resource longer"},
		{in: "a@b/\u0000", err: "resource"},
		{in: "\xff@b", err: "UTF-8"},
		// Edges of the fast path (ASCII in normal form); see also
		// TestParseJIDFastPath.
		{in: "a!#$%()*+,-.;=?[\\]^_`{|}~@b", want: "a!#$%()*+,-.;=?[\\]^_`{|}~@b"},
		{in: ".a..b.@c", want: ".a..b.@c"},
		{in: "a@b-c.d/r", want: "a@b-c.d/r"},
		{in: "a@1.2.3.4", want: "a@1.2.3.4"},
		{in: "a@01.2.3.4", want: "a@01.2.3.4"},
		{in: "a@b/r@s/t", want: "a@b/r@s/t"},
		{in: "a@b/ !\"&'/:<>@~", want: "a@b/ !\"&'/:<>@~"},
		{in: "a@xn--bcher-kva.de", want: "a@b\u00fccher.de"},
		{in: strings.Repeat("a", 1023) + "@b", want: strings.Repeat("a", 1023) + "@b"},
		{in: "a@" + domain1023, want: "a@" + domain1023},
		{in: "a@" + domain1023 + ".", want: "a@" + domain1023},
		{in: "a@b/" + strings.Repeat("r", 1023), want: "a@b/" + strings.Repeat("r", 1023)},
		{in: "a@" + strings.Repeat("b", 64), want: "a@" + strings.Repeat("b", 64)}, // no DNS label limit
		{in: "a@xn--abc", err: "domain"},
		{in: "a@b.", want: "a@b"},
		{in: "a@.", err: "empty domain"},
		{in: "a@b../r", err: "empty domain label"},
		{in: "a@.b", err: "domain"},
		{in: "a@-b", err: "domain"},
		{in: "a@b-", err: "domain"},
		{in: "a@ab--c", err: "domain"},
		{in: "a@b_c", err: "domain"},
		{in: "a@b/c\x7f", err: "resource"},
		{in: "a@b/c\td", err: "resource"},
		{in: "a\x7f@b", err: "local part"},
		{in: "a\"b@c", err: "forbidden character"},
		{in: "a:b@c", err: "forbidden character"},
		{in: "a@" + domain1023 + "b", err: "domain longer"},
		// Maps to a label the bidi rule refuses (FuzzParseJID).
		{in: "a@\u2136\u00eb", err: "domain"},
		{in: "\u2136\u00eb", err: "domain"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			j, err := ParseJID(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseJID(%q) = %v, %v; want error with %q", tc.in, j, err, tc.err)
				}
				return
			}
			if err != nil || j.String() != tc.want {
				t.Fatalf("ParseJID(%q) = %q, %v; want %q", tc.in, j.String(), err, tc.want)
			}
		})
	}
}

// domain1023 is a domain of 1023 bytes, RFC 7622's limit: 16 labels of 63.
var domain1023 = strings.TrimSuffix(strings.Repeat(strings.Repeat("d", 63)+".", 16), ".")

// TestParseJIDFastPath: the inputs the fast path takes (fast) agree with
// the full path, and the others are left to it.
func TestParseJIDFastPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fast bool
	}{
		{"alice@example.org", true},
		{"alice@example.org/phone 2", true},
		{"example.org", true},
		{"example.org.", true},
		{"conference.example.org/nick name", true},
		{"a_b.c+d@b-c.example/r", true},
		{"a@1.2.3.4", true},
		{"a@" + strings.Repeat("b", 63), true},
		{"a@" + domain1023, true},
		{strings.Repeat("a", 1023) + "@b/" + strings.Repeat("r", 1023), true},
		{"Alice@example.org", false},
		{"alice@Example.org", false},
		{"alice@example.org/Phone", true}, // OpaqueString keeps case
		{"\u00e4@b", false},
		{"a@b\u00fc", false},
		{"a@b/\u00fc", false},
		{"a@" + strings.Repeat("b", 64), false},
		{"a@xn--bcher-kva.de", false},
		{"a@ab--c", false},
		{"a@[::1]", false},
		{"a b@c", false},
		{"a'b@c", false},
		{"a@b/\x7f", false},
		{"a@b/\t", false},
		{"a@b/", false},
		{"@b", false},
		{"a@", false},
		{"a@b..", false},
		{"", false},
		{strings.Repeat("a", 1024) + "@b", false},
		{"a@b/" + strings.Repeat("r", 1024), false},
		{"a@" + domain1023 + "b", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			fj, ok := parseJIDFast(tc.in)
			if ok != tc.fast {
				t.Fatalf("parseJIDFast(%q) took it: %v; want %v", tc.in, ok, tc.fast)
			}
			checkFastPath(t, tc.in)
			if ok && fj.String() != tc.in && fj.String()+"." != tc.in {
				t.Fatalf("parseJIDFast(%q) = %q: the input was already in normal form", tc.in, fj.String())
			}
		})
	}
}

// checkFastPath: what the fast path takes, the full path returns the same;
// ParseJID and the full path agree (same JID, or both an error).
func checkFastPath(t *testing.T, s string) {
	t.Helper()
	full, ferr := parseJIDFull(s)
	if fj, ok := parseJIDFast(s); ok && (ferr != nil || fj != full) {
		t.Fatalf("%q: fast path %+v; full path %+v, %v", s, fj, full, ferr)
	}
	j, err := ParseJID(s)
	if (err != nil) != (ferr != nil) || j != full {
		t.Fatalf("%q: ParseJID %+v, %v; full path %+v, %v", s, j, err, full, ferr)
	}
}

// TestParseJIDFastASCII: every ASCII byte and every pair of them in each
// part, against the full path.
func TestParseJIDFastASCII(t *testing.T) {
	for _, tmpl := range []string{"%s@b/r", "a@%s/r", "a@b.%s/r", "a@b/%s", "%s"} {
		for c := range 128 {
			checkFastPath(t, strings.Replace(tmpl, "%s", string(rune(c)), 1))
			if testing.Short() {
				continue
			}
			for d := range 128 {
				checkFastPath(t, strings.Replace(tmpl, "%s", string([]byte{byte(c), byte(d)}), 1))
			}
		}
	}
}

func TestJIDParts(t *testing.T) {
	j, _ := ParseJID("Alice@Localhost/Phone")
	if j.Bare() != "alice@localhost" || !j.IsFull() || j.BareJID().String() != "alice@localhost" || j.BareJID().IsFull() {
		t.Fatalf("%+v", j)
	}
	d, _ := ParseJID("example.org")
	if d.Bare() != "example.org" {
		t.Fatalf("domain-only bare: %q", d.Bare())
	}
	for _, s := range []string{"example.org", "example.org/r", "a@example.org", "a@example.org/r"} {
		if j, err := ParseJID(s); err != nil || j.String() != s {
			t.Errorf("ParseJID(%q).String() = %q, %v", s, j.String(), err)
		}
	}
	long := JID{Local: "alice.longername", Domain: "conference.example.org", Resource: "phone-3f2a"}
	if n := testing.AllocsPerRun(100, func() { sinkString = long.String() }); n != 1 {
		t.Errorf("String: %v allocations; want 1", n)
	}
}

func TestTransactionIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewTransactionID(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != TxnLength || !ValidTransactionID(id) || strings.Trim(id, TxnAlphabet) != "" {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("repeated id %q", id)
		}
		seen[id] = true
	}
	if _, err := NewTransactionID(strings.NewReader("short")); err == nil {
		t.Fatal("a short random source must fail")
	}
	for s, ok := range map[string]bool{"a": true, "A-b_c.9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a b": false, "\u00e9": false, "a/b": false, "a+b": false} {
		if ValidTransactionID(s) != ok {
			t.Errorf("ValidTransactionID(%q) != %v", s, ok)
		}
	}
}

// FuzzParseJID: no panics; a parsed JID re-parses to itself.
func FuzzParseJID(f *testing.F) {
	for _, s := range []string{"alice@localhost", "Alice@Example.ORG/Phone", "x@[::1]/r", "ä@bücher.de", "@x", "a@b/", "a@b@c", "localhost", "a@b/c/d", "\u212Bngstr\u00f6m@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJID(s)
		if err != nil {
			return
		}
		k, err := ParseJID(j.String())
		if err != nil || k != j {
			t.Fatalf("%q -> %q -> %q (%v): normalisation is not stable", s, j.String(), k.String(), err)
		}
	})
}

var benchJIDs = []struct{ name, in string }{
	{"full", "alice@example.org/phone-3f2a"},
	{"bare", "alice@example.org"},
	{"upper", "Alice@Example.ORG/Phone"},        // the full path
	{"nonASCII", "\u00e4lice@b\u00fccher.de/r"}, // the full path
}

// FuzzParseJIDFast: the fast path agrees with the full path (what it
// takes, the full path returns unchanged), and ParseJID with the full path
// (same JID, or an error from both).
func FuzzParseJIDFast(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "alice@example.org/phone", "example.org", "example.org.", "a@b./r",
		"a!#$%()*+,-.;=?[\\]^_`{|}~@b", ".a..b.@c", "a\"b@c", "a&b@c", "a'b@c", "a:b@c", "a<b@c", "a>b@c",
		"a b@c", "a\tb@c", "a\x7f@b", "A@b", "a@B", "a@b/R", "a@b/ ", "a@b/\x7f", "a@b/\x00", "a@b/r@s/t",
		"a@b-c", "a@-b", "a@b-", "a@ab--c", "a@a-b--c", "a@xn--bcher-kva.de", "a@xn--abc", "a@xn--", "a@b_c",
		"a@b..", "a@.b", "a@.", "a@..", ".", "@b", "a@", "/r", "a@b/", "a/b@c", "a@b@c",
		"a@1.2.3.4", "a@01.2.3.4", "a@1.2.3.4.", "a@1.2.3", "a@256.1.1.1", "a@0", "a@[::1]", "a@[::1]/r",
		"a@" + strings.Repeat("b", 63), "a@" + strings.Repeat("b", 64), "a@" + domain1023, "a@" + domain1023 + ".",
		"a@" + domain1023 + "b", strings.Repeat("a", 1023) + "@b", strings.Repeat("a", 1024) + "@b",
		"a@b/" + strings.Repeat("r", 1023), "a@b/" + strings.Repeat("r", 1024),
		"\u00e4@b", "a@b\u00fc", "a@b/\u00fc", "\u212ango@b", "a@\u2136\u00eb",
	} {
		f.Add(s)
	}
	f.Fuzz(checkFastPath)
}

func BenchmarkParseJID(b *testing.B) {
	for _, bc := range benchJIDs {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseJID(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var sinkString string

func BenchmarkJIDString(b *testing.B) {
	full := JID{Local: "alice", Domain: "example.org", Resource: "phone"}
	// A bare JID over 32 bytes: longer than the compiler's stack buffer
	// for an intermediate concatenation.
	long := JID{Local: "alice.longername", Domain: "conference.example.org", Resource: "phone-3f2a"}
	for _, bc := range []struct {
		name string
		f    func() string
	}{
		{"String/full", full.String},
		{"String/bare", full.BareJID().String},
		{"String/long", long.String},
		{"Bare", full.Bare},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString = bc.f()
			}
		})
	}
}
