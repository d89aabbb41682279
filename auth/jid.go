package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// JID is an XMPP address normalised per RFC 7622: the local part with the
// PRECIS UsernameCaseMapped profile, the domain lower-cased (IDNA lookup
// mapping), the resource with the OpaqueString profile (case kept). Two
// JIDs are the same address exactly when their fields are equal.
//
// The zero JID is not valid. JID values are safe to copy and compare.
type JID struct {
	Local    string
	Domain   string
	Resource string
}

// Errors of ParseJID, wrapped with detail.
var ErrInvalidJID = errors.New("invalid JID")

// maxPart is RFC 7622's limit on each part, in bytes.
const maxPart = 1023

var domainProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule())

// ParseJID parses and normalises s. It accepts domain-only JIDs too;
// callers that need a person use (JID).Local != "".
func ParseJID(s string) (JID, error) {
	if j, ok := parseJIDFast(s); ok {
		return j, nil
	}
	return parseJIDFull(s)
}

// parseJIDFull is ParseJID without the fast path: PRECIS and IDNA on
// every part.
func parseJIDFull(s string) (JID, error) {
	if s == "" {
		return JID{}, fmt.Errorf("%w: empty", ErrInvalidJID)
	}
	if !utf8.ValidString(s) {
		return JID{}, fmt.Errorf("%w: not UTF-8", ErrInvalidJID)
	}
	var j JID
	rest := s
	// RFC 7622 3.1: the resource is everything after the first '/', the
	// local part everything before the first '@' that precedes it.
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		j.Resource = rest[i+1:]
		rest = rest[:i]
		if j.Resource == "" {
			return JID{}, fmt.Errorf("%w: empty resource", ErrInvalidJID)
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		j.Local = rest[:i]
		rest = rest[i+1:]
		if j.Local == "" {
			return JID{}, fmt.Errorf("%w: empty local part", ErrInvalidJID)
		}
	}
	j.Domain = rest
	var err error
	if j.Local != "" {
		if strings.ContainsAny(j.Local, "\"&'/:<>@") {
			return JID{}, fmt.Errorf("%w: the local part holds a forbidden character", ErrInvalidJID)
		}
		if j.Local, err = precis.UsernameCaseMapped.String(j.Local); err != nil {
			return JID{}, fmt.Errorf("%w: local part: %v", ErrInvalidJID, err)
		}
		if len(j.Local) > maxPart || j.Local == "" {
			return JID{}, fmt.Errorf("%w: local part length", ErrInvalidJID)
		}
	}
	if j.Domain, err = normaliseDomain(j.Domain); err != nil {
		return JID{}, err
	}
	if j.Resource != "" {
		if j.Resource, err = precis.OpaqueString.String(j.Resource); err != nil {
			return JID{}, fmt.Errorf("%w: resource: %v", ErrInvalidJID, err)
		}
		if len(j.Resource) > maxPart {
			return JID{}, fmt.Errorf("%w: resource longer than %d bytes", ErrInvalidJID, maxPart)
		}
	}
	return j, nil
}

func normaliseDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", fmt.Errorf("%w: empty domain", ErrInvalidJID)
	}
	if len(d) > maxPart {
		return "", fmt.Errorf("%w: domain longer than %d bytes", ErrInvalidJID, maxPart)
	}
	if strings.HasPrefix(d, "[") { // IPv6 literal, RFC 7622 3.2
		if !strings.HasSuffix(d, "]") {
			return "", fmt.Errorf("%w: bad IPv6 literal", ErrInvalidJID)
		}
		a, err := netip.ParseAddr(d[1 : len(d)-1])
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("%w: bad IPv6 literal", ErrInvalidJID)
		}
		return "[" + a.String() + "]", nil
	}
	if a, err := netip.ParseAddr(d); err == nil && a.Is4() {
		return a.String(), nil
	}
	u, err := domainProfile.ToUnicode(d)
	if err != nil {
		return "", fmt.Errorf("%w: domain: %v", ErrInvalidJID, err)
	}
	// x/net/idna applies the bidi rule to the label as given, before the
	// mapping: "\u2136\u00eb" (BET SYMBOL, left-to-right) maps to
	// "\u05d1\u00eb" (Hebrew bet, right-to-left), which the rule refuses.
	// The normal form must itself be a valid domain, or a JID would not
	// parse again from its own String (found by FuzzParseJID).
	if again, err := domainProfile.ToUnicode(u); err != nil {
		return "", fmt.Errorf("%w: domain: %v", ErrInvalidJID, err)
	} else if again != u {
		return "", fmt.Errorf("%w: domain: its normal form is not stable", ErrInvalidJID)
	}
	if strings.ContainsAny(u, " \t\r\n@/\"&'<>:[]\\") {
		return "", fmt.Errorf("%w: the domain holds a forbidden character", ErrInvalidJID)
	}
	for _, label := range strings.Split(u, ".") {
		if label == "" {
			return "", fmt.Errorf("%w: empty domain label", ErrInvalidJID)
		}
	}
	return u, nil
}

// Bare returns the bare JID ("local@domain", or "domain" when there is no
// local part).
func (j JID) Bare() string {
	if j.Local == "" {
		return j.Domain
	}
	return j.Local + "@" + j.Domain
}

// String returns the JID in full: the bare JID, then "/resource" if any.
func (j JID) String() string {
	// One concatenation each: Bare() + "/" + j.Resource built the bare
	// JID first, a second allocation when it is over 32 bytes.
	switch {
	case j.Resource == "":
		return j.Bare()
	case j.Local == "":
		return j.Domain + "/" + j.Resource
	}
	return j.Local + "@" + j.Domain + "/" + j.Resource
}

// IsFull reports whether the JID has a resource.
func (j JID) IsFull() bool { return j.Resource != "" }

// BareJID returns j without its resource.
func (j JID) BareJID() JID { j.Resource = ""; return j }
