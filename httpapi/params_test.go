package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xmpp-http-auth/http-auth/auth"
)

const okParams = "jid=alice@example.org&domain=example.com&method=GET"

// TestBadInput covers every bad parameter of SPEC section 5: each gets a
// 400 whose detail names the parameter, and the person is never asked.
func TestBadInput(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	const jidWant = "invalid: jid: must be user@host or user@host/resource"
	tests := []struct {
		name  string
		query string
		want  string // the body starts with it
	}{
		{"jid missing", "domain=x&method=GET", "invalid: jid is missing\n"},
		{"jid empty", "jid=&domain=x&method=GET", "invalid: jid is empty\n"},
		{"jid repeated", "jid=a@b&jid=a@b&domain=x&method=GET", "invalid: jid is given more than once\n"},
		{"jid repeated differently", "jid=a@b&domain=x&jid=c@d&method=GET", "invalid: jid is given more than once\n"},
		{"jid domain only", "jid=example.org&domain=x&method=GET", jidWant + " (a server address is not a person)\n"},
		{"jid domain and resource only", "jid=example.org/res&domain=x&method=GET", jidWant},
		{"jid with space", "jid=al+ice@example.org&domain=x&method=GET", jidWant},
		{"jid with space in domain", "jid=alice@exa%20mple.org&domain=x&method=GET", jidWant},
		{"jid at x", "jid=@x&domain=x&method=GET", jidWant},
		{"jid empty resource", "jid=a@x/&domain=x&method=GET", jidWant},
		{"jid local part too long", "jid=" + long(1024) + "@example.org&domain=x&method=GET", jidWant},
		{"jid domain too long", "jid=a@" + long(1024) + "&domain=x&method=GET", jidWant},
		{"jid too long", "jid=" + long(1023) + "@" + long(1023) + "/" + long(1023) + "x&domain=x&method=GET", "invalid: jid: longer than 3071 bytes\n"},
		{"jid not UTF-8", "jid=%FF@example.org&domain=x&method=GET", jidWant},
		{"jid malformed escape", "jid=a%zz@b&domain=x&method=GET", "invalid: jid: malformed percent-encoding\n"},
		{"domain and url missing", "jid=a@b&method=GET", "invalid: domain is missing (give domain or its alias url)\n"},
		{"domain empty", "jid=a@b&domain=&method=GET", "invalid: domain is empty\n"},
		{"url empty", "jid=a@b&url=&method=GET", "invalid: url is empty\n"},
		{"domain too long", "jid=a@b&domain=" + long(1025) + "&method=GET", "invalid: domain: longer than 1024 bytes\n"},
		{"url too long", "jid=a@b&url=" + long(1025) + "&method=GET", "invalid: url: longer than 1024 bytes\n"},
		{"url and domain differ", "jid=a@b&domain=x&url=y&method=GET", "invalid: url: differs from domain"},
		{"domain repeated", "jid=a@b&domain=x&domain=x&method=GET", "invalid: domain is given more than once\n"},
		{"url repeated", "jid=a@b&url=x&url=x&method=GET", "invalid: url is given more than once\n"},
		{"domain control character", "jid=a@b&domain=x%0Ay&method=GET", "invalid: domain: must not contain control characters\n"},
		{"domain NUL", "jid=a@b&domain=x%00&method=GET", "invalid: domain: must not contain control characters\n"},
		{"domain C1 control", "jid=a@b&domain=x%C2%85&method=GET", "invalid: domain: must not contain control characters\n"},
		{"domain not UTF-8", "jid=a@b&domain=x%FF&method=GET", "invalid: domain: must be UTF-8 text\n"},
		{"method missing", "jid=a@b&domain=x", "invalid: method is missing\n"},
		{"method empty", "jid=a@b&domain=x&method=", "invalid: method is empty\n"},
		{"method with space", "jid=a@b&domain=x&method=GE+T", "invalid: method: must be an HTTP method token"},
		{"method with slash", "jid=a@b&domain=x&method=GET/", "invalid: method: must be an HTTP method token"},
		{"method 33 bytes", "jid=a@b&domain=x&method=" + long(33), "invalid: method: longer than 32 bytes\n"},
		{"method repeated", "jid=a@b&domain=x&method=GET&method=POST", "invalid: method is given more than once\n"},
		{"transaction_id 65 chars", okParams + "&transaction_id=" + long(65), "invalid: transaction_id: must be 1 to 64 letters, digits, '-', '_' or '.'\n"},
		{"transaction_id slash", okParams + "&transaction_id=ab/cd", "invalid: transaction_id: must be"},
		{"transaction_id space", okParams + "&transaction_id=ab+cd", "invalid: transaction_id: must be"},
		{"transaction_id non-ASCII", okParams + "&transaction_id=caf%C3%A9", "invalid: transaction_id: must be"},
		{"transaction_id empty", okParams + "&transaction_id=", "invalid: transaction_id is empty\n"},
		{"transaction_id repeated", okParams + "&transaction_id=A&transaction_id=A", "invalid: transaction_id is given more than once\n"},
		{"timeout 0", okParams + "&timeout=0", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout 000", okParams + "&timeout=000", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout -1", okParams + "&timeout=-1", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout +5", okParams + "&timeout=%2B5", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout 1.5", okParams + "&timeout=1.5", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout abc", okParams + "&timeout=abc", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout 0x10", okParams + "&timeout=0x10", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout space 5", okParams + "&timeout=+5", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout 5s", okParams + "&timeout=5s", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout 1e3", okParams + "&timeout=1e3", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout Arabic-Indic digit", okParams + "&timeout=%D9%A5", "invalid: timeout: must be a whole number of seconds, at least 1\n"},
		{"timeout empty", okParams + "&timeout=", "invalid: timeout is empty\n"},
		{"timeout repeated", okParams + "&timeout=5&timeout=5", "invalid: timeout is given more than once\n"},
		// Repetition is reported before anything else.
		{"repeated before missing", "timeout=1&timeout=2", "invalid: timeout is given more than once\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{}
			h, _ := newHandler(t, f, Options{})
			w := do(t, h, "GET", "/auth?"+tc.query, "", nil)
			if w.Code != 400 {
				t.Fatalf("code = %d, want 400; body %q", w.Code, w.Body.String())
			}
			if got := w.Body.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("body = %q, want it to start with %q", got, tc.want)
			}
			if got := w.Header().Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("the confirmer was asked %d times", n)
			}
			// Same through the parser alone: the error names the parameter.
			_, err := parseParams(tc.query, "", time.Minute)
			pe, ok := errors.AsType[*paramError](err)
			if !ok {
				t.Fatalf("parseParams error = %v, want a *paramError", err)
			}
			if !strings.HasPrefix(tc.want, "invalid: "+pe.Param) {
				t.Errorf("Param = %q, want the one in %q", pe.Param, tc.want)
			}
		})
	}
}

// TestGoodInput: values at the edges of what is allowed pass, normalised
// where RFC 7622 says so.
func TestGoodInput(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		query string
		body  string
		want  params
	}{
		{"minimal", okParams, "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: time.Minute}},
		{"full JID normalised", "jid=Alice@Example.ORG/Phone+1&domain=x&method=POST", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org", Resource: "Phone 1"}, URL: "x", Method: "POST", Timeout: time.Minute}},
		{"url alias", "jid=a@b&url=https://example.com/x?y=1&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "https://example.com/x?y=1", Method: "GET", Timeout: time.Minute}},
		{"url and domain equal", "jid=a@b&url=x&domain=x&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "x", Method: "GET", Timeout: time.Minute}},
		{"url 1024 bytes", "jid=a@b&url=" + long(1024) + "&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: long(1024), Method: "GET", Timeout: time.Minute}},
		{"url non-ASCII", "jid=a@b&url=%C3%A9t%C3%A9.fr&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "été.fr", Method: "GET", Timeout: time.Minute}},
		{"method 32 bytes of tchar", "jid=a@b&url=x&method=" + url.QueryEscape("!#$%&'*+-.^_`|~09azAZ"+long(11)), "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "x", Method: "!#$%&'*+-.^_`|~09azAZ" + long(11), Timeout: time.Minute}},
		{"transaction id 64", okParams + "&transaction_id=" + long(63) + "Z", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", TransactionID: long(63) + "Z", TransactionIDGiven: true, Timeout: time.Minute}},
		{"transaction id punctuation", okParams + "&transaction_id=a-b_c.D9", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", TransactionID: "a-b_c.D9", TransactionIDGiven: true, Timeout: time.Minute}},
		{"timeout 1", okParams + "&timeout=1", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: time.Second}},
		{"timeout leading zeros", okParams + "&timeout=007", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: 7 * time.Second}},
		{"timeout 300", okParams + "&timeout=300", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: MaxTimeout}},
		{"timeout 400 lowered", okParams + "&timeout=400", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: MaxTimeout}},
		{"timeout max int64 lowered", okParams + "&timeout=9223372036854775807", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: MaxTimeout}},
		{"timeout beyond int64 lowered", okParams + "&timeout=99999999999999999999", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: MaxTimeout}},
		{"unknown parameters ignored", okParams + "&foo=1&foo=2&JID=x&%zz=%zz&&=&bare", "",
			params{JID: auth.JID{Local: "alice", Domain: "example.org"}, URL: "example.com", Method: "GET", Timeout: time.Minute}},
		{"semicolon is data", "jid=a@b&domain=x;y&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "x;y", Method: "GET", Timeout: time.Minute}},
		{"split between query and body", "jid=a@b", "domain=x&method=GET&timeout=5",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "x", Method: "GET", Timeout: 5 * time.Second}},
		{"escaped key", "j%69d=a@b&domain=x&method=GET", "",
			params{JID: auth.JID{Local: "a", Domain: "b"}, URL: "x", Method: "GET", Timeout: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseParams(tc.query, tc.body, time.Minute)
			if err != nil {
				t.Fatalf("parseParams: %v", err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseParams: the parser never panics, and either yields a request
// that satisfies every rule of SPEC section 2 or a 400 naming a parameter.
func FuzzParseParams(f *testing.F) {
	for _, s := range [][2]string{
		{okParams, ""},
		{okParams + "&transaction_id=AB12&timeout=30", ""},
		{"jid=a@b", "url=x&method=GET"},
		{"jid=a@b&jid=a@b", ""},
		{"jid=example.org&domain=x&method=GET", ""},
		{"jid=%FF@x&domain=%zz&method=GE+T", ""},
		{"jid=a@b&domain=x&method=GET&timeout=99999999999999999999", ""},
		{"jid=a@b&domain=x&url=y&method=GET", ""},
		{"", "jid=a@[::1]/r&domain=x%00&method=GET&timeout=0x10"},
		{"jid=a@b&domain=x;method=GET", "&&=&%"},
		{"jid=" + strings.Repeat("a", 1024) + "@b&domain=x&method=GET", ""},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		p, err := parseParams(query, body, time.Minute)
		if err != nil {
			pe, ok := errors.AsType[*paramError](err)
			if !ok {
				t.Fatalf("error %v is not a *paramError", err)
			}
			if !isKnownParam(pe.Param) {
				t.Fatalf("error names %q, not a parameter", pe.Param)
			}
			if !strings.HasPrefix(pe.Detail, pe.Param+":") && !strings.HasPrefix(pe.Detail, pe.Param+" ") {
				t.Fatalf("detail %q does not start with %q", pe.Detail, pe.Param)
			}
			if p.TransactionID != "" && !auth.ValidTransactionID(p.TransactionID) {
				t.Fatalf("invalid transaction id %q kept", p.TransactionID)
			}
			return
		}
		if p.JID.Local == "" || p.JID.Domain == "" {
			t.Fatalf("JID %+v is not a person's", p.JID)
		}
		if _, err := auth.ParseJID(p.JID.String()); err != nil {
			t.Fatalf("JID %q does not parse again: %v", p.JID, err)
		}
		if p.URL == "" || len(p.URL) > maxURLBytes || !utf8.ValidString(p.URL) || strings.ContainsFunc(p.URL, notXMLText) {
			t.Fatalf("bad URL %q", p.URL)
		}
		if !isToken(p.Method) || len(p.Method) > maxMethodBytes {
			t.Fatalf("bad method %q", p.Method)
		}
		if p.TransactionID != "" && !auth.ValidTransactionID(p.TransactionID) {
			t.Fatalf("bad transaction id %q", p.TransactionID)
		}
		if p.TransactionID == "" && p.TransactionIDGiven {
			t.Fatal("a given transaction id was lost")
		}
		if p.Timeout < time.Second || p.Timeout > MaxTimeout || p.Timeout%time.Second != 0 {
			t.Fatalf("bad timeout %v", p.Timeout)
		}
	})
}

// legacyParseParams is parseParams as it was before it was tuned for
// allocations (a map of every value): the tuned one must give the same
// params and the same error.
func legacyParseParams(query, body string, defaultTimeout time.Duration) (params, error) {
	type rawValues struct {
		vals      map[string][]string
		malformed map[string]bool
	}
	rv := rawValues{vals: map[string][]string{}, malformed: map[string]bool{}}
	collect := func(s string) {
		for s != "" {
			var pair string
			pair, s, _ = strings.Cut(s, "&")
			if pair == "" {
				continue
			}
			k, v, _ := strings.Cut(pair, "=")
			key, err := url.QueryUnescape(k)
			if err != nil || !isKnownParam(key) {
				continue
			}
			val, err := url.QueryUnescape(v)
			if err != nil {
				rv.malformed[key] = true
			}
			rv.vals[key] = append(rv.vals[key], val)
		}
	}
	collect(query)
	collect(body)

	var p params
	var first *paramError
	note := func(e *paramError) {
		if first == nil {
			first = e
		}
	}
	one := func(name string) (string, bool) {
		vs := rv.vals[name]
		switch {
		case len(vs) == 0:
			return "", false
		case len(vs) > 1:
			note(repeated(name))
			return "", false
		case rv.malformed[name]:
			note(badParam(name, "malformed percent-encoding"))
			return "", false
		}
		return vs[0], true
	}
	for _, k := range knownParams {
		if len(rv.vals[k]) > 1 {
			note(repeated(k))
		}
	}

	if v, ok := one(paramJID); ok {
		j, err := parseJID(v)
		if err != nil {
			note(err)
		}
		p.JID = j
	} else if len(rv.vals[paramJID]) == 0 {
		note(missing(paramJID))
	}

	domain, hasDomain := one(paramDomain)
	u, hasURL := one(paramURL)
	switch {
	case hasDomain && hasURL && domain != u:
		note(badParam(paramURL, "differs from domain (url is an alias of domain: give one of them)"))
	case hasDomain:
		p.URL, first = checkURL(paramDomain, domain, first)
	case hasURL:
		p.URL, first = checkURL(paramURL, u, first)
	case len(rv.vals[paramDomain]) == 0 && len(rv.vals[paramURL]) == 0:
		note(&paramError{Param: paramDomain, Detail: "domain is missing (give domain or its alias url)"})
	}

	if v, ok := one(paramMethod); ok {
		switch {
		case v == "":
			note(empty(paramMethod))
		case len(v) > maxMethodBytes:
			note(badParam(paramMethod, fmt.Sprintf("longer than %d bytes", maxMethodBytes)))
		case !isToken(v):
			note(badParam(paramMethod, "must be an HTTP method token (letters, digits and !#$%&'*+-.^_`|~)"))
		default:
			p.Method = v
		}
	} else if len(rv.vals[paramMethod]) == 0 {
		note(missing(paramMethod))
	}

	p.TransactionIDGiven = len(rv.vals[paramTransactionID]) > 0
	if v, ok := one(paramTransactionID); ok {
		switch {
		case v == "":
			note(empty(paramTransactionID))
		case !auth.ValidTransactionID(v):
			note(badParam(paramTransactionID, fmt.Sprintf("must be 1 to %d letters, digits, '-', '_' or '.'", auth.MaxTxnLength)))
		default:
			p.TransactionID = v
		}
	}

	p.Timeout = defaultTimeout
	if v, ok := one(paramTimeout); ok {
		d, err := parseTimeout(v)
		if err != nil {
			note(err)
		}
		p.Timeout = d
	}

	if first != nil {
		return p, first
	}
	return p, nil
}

// sameAsLegacy fails t when parseParams and legacyParseParams disagree.
func sameAsLegacy(t *testing.T, query, body string) {
	t.Helper()
	p, err := parseParams(query, body, time.Minute)
	lp, lerr := legacyParseParams(query, body, time.Minute)
	if p != lp {
		t.Fatalf("parseParams(%q, %q) = %+v, want %+v", query, body, p, lp)
	}
	pe, _ := errors.AsType[*paramError](err)
	lpe, _ := errors.AsType[*paramError](lerr)
	if (err == nil) != (lerr == nil) || (pe == nil) != (lpe == nil) || (pe != nil && *pe != *lpe) {
		t.Fatalf("parseParams(%q, %q) error = %v, want %v", query, body, err, lerr)
	}
}

// TestParseParamsSameAsLegacy: the queries of the other tests, and some
// split between query and body, give what they gave before.
func TestParseParamsSameAsLegacy(t *testing.T) {
	qs := []string{
		okParams, "", "&&", "=", "jid", "jid=", "jid=%", "jid=%4", "jid=%41", "jid=%zz&jid=%zz", "j%69d=a@b&domain=x&method=GET",
		"j%6=a@b", "jid+=a@b", "%6A%69%64=a@b&domain=x&method=GET", "transaction%5Fid=A&" + okParams,
		"%74%72ansaction_i%64=A&" + okParams, "transaction_id%41=A&" + okParams, "transaction_id%=A&" + okParams,
		"%2Bjid=a@b", "ji%64+=a@b", "ji%6=a@b", "%=&%%=%", "timeout%00=5", "Timeout=5&JID=a@b",
		"jid=a@b&domain=x&url=x&method=GET", "jid=a@b&url=%zz&domain=x&method=GET", "jid=a@b&domain=%zz&domain=x&method=GET",
		"jid=a@b&domain=x&method=GET&timeout=%zz", "jid=a@b&domain=x&method=G%45T&transaction_id=%41%42",
		"jid=a+b@c&domain=x+y&method=GET", benchQueryFull, benchQueryBare,
	}
	for _, q := range qs {
		sameAsLegacy(t, q, "")
		sameAsLegacy(t, "", q)
		sameAsLegacy(t, q, q)
		if a, b, ok := strings.Cut(q, "&"); ok {
			sameAsLegacy(t, a, b)
		}
	}
}

// FuzzSameParamsAsLegacy: parseParams gives the same params and error
// as legacyParseParams for any query and body.
func FuzzSameParamsAsLegacy(f *testing.F) {
	f.Add(okParams, "")
	f.Add("jid=a@b", "url=x&method=GET")
	f.Add("j%69d=a%40b&domain=x%zz", "jid=%41&method=GET&timeout=5&transaction_id=A")
	f.Add(benchQueryFull, "")
	f.Add(benchQueryBare, "jid=a@b")
	f.Fuzz(func(t *testing.T, query, body string) {
		sameAsLegacy(t, query, body)
	})
}
