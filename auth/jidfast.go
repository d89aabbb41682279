package auth

import "strings"

// The fast path of ParseJID: an ASCII JID already in normal form, which
// PRECIS and IDNA would return unchanged, is returned as it is (its
// parts are substrings of the input: no allocation). It never fails: it
// only declines, and everything it declines (upper case, non-ASCII,
// control characters, IP literals, "xn--" labels, limits...) takes the
// full path, which alone reports errors. FuzzParseJIDFast checks that
// it agrees with the full path.

// localOK marks the bytes that may appear in a local part the fast path
// accepts: printable ASCII that PRECIS UsernameCaseMapped leaves as it is
// (IdentifierClass takes U+0021..U+007E; the case mapping changes only
// A-Z; width mapping, NFC and the bidi rule do nothing to ASCII without
// right-to-left characters), less the characters RFC 7622 3.3.1 forbids
// (" & ' / : < > @). Space and control characters are disallowed.
//
// resourceOK: printable ASCII U+0020..U+007E, which OpaqueString
// (FreeformClass, spaces mapped to U+0020, NFC) leaves as it is; U+007F
// and the other control characters are disallowed.
var localOK, resourceOK [256]bool

func init() {
	for c := 0x20; c < 0x7f; c++ {
		resourceOK[c] = true
		localOK[c] = c != ' ' && !('A' <= c && c <= 'Z') && strings.IndexByte("\"&'/:<>@", byte(c)) < 0
	}
}

// maxLabel is the DNS limit on a label. The full path does not enforce it
// (no VerifyDNSLength); the fast path declines longer labels, leaving them
// to the full path.
const maxLabel = 63

func parseJIDFast(s string) (JID, bool) {
	var j JID
	rest := s
	// The same split as parseJIDFull: the resource after the first '/',
	// the local part before the first '@' ahead of it.
	if i := strings.IndexByte(s, '/'); i >= 0 {
		j.Resource, rest = s[i+1:], s[:i]
		if !normalResource(j.Resource) {
			return JID{}, false
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		j.Local, rest = rest[:i], rest[i+1:]
		if !normalLocal(j.Local) {
			return JID{}, false
		}
	}
	// normaliseDomain drops one trailing dot.
	j.Domain = strings.TrimSuffix(rest, ".")
	if !normalDomain(j.Domain) {
		return JID{}, false
	}
	return j, true
}

func normalLocal(l string) bool {
	if l == "" || len(l) > maxPart {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !localOK[l[i]] {
			return false
		}
	}
	return true
}

func normalResource(r string) bool {
	if r == "" || len(r) > maxPart {
		return false
	}
	for i := 0; i < len(r); i++ {
		if !resourceOK[r[i]] {
			return false
		}
	}
	return true
}

// normalDomain reports whether d (its trailing dot already dropped) is
// lower-case LDH labels that IDNA2008 lookup (UTS #46 with STD3 rules and
// hyphen checks) returns unchanged: no empty label, no label starting or
// ending with '-', none with "--" in its third and fourth place (which
// covers "xn--": the full path decodes those), none over 63 bytes.
// Dotted-decimal IPv4 addresses are accepted: netip.Addr.String returns
// them unchanged, and it refuses forms that are not canonical (leading
// zeros), which IDNA then returns unchanged too.
func normalDomain(d string) bool {
	if d == "" || len(d) > maxPart {
		return false
	}
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) {
			c := d[i]
			if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' {
				continue
			}
			if c != '.' {
				return false
			}
		}
		label := d[start:i]
		n := len(label)
		if n == 0 || n > maxLabel || label[0] == '-' || label[n-1] == '-' ||
			n >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}
