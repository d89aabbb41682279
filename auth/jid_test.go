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

func TestJIDParts(t *testing.T) {
	j, _ := ParseJID("Alice@Localhost/Phone")
	if j.Bare() != "alice@localhost" || !j.IsFull() || j.BareJID().String() != "alice@localhost" || j.BareJID().IsFull() {
		t.Fatalf("%+v", j)
	}
	d, _ := ParseJID("example.org")
	if d.Bare() != "example.org" {
		t.Fatalf("domain-only bare: %q", d.Bare())
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
