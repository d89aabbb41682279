package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// The parameters of /auth, spelled as callers send them.
const (
	paramJID           = "jid"
	paramDomain        = "domain"
	paramURL           = "url" // XEP-0070's name, an alias of domain
	paramMethod        = "method"
	paramTransactionID = "transaction_id"
	paramTimeout       = "timeout"
	// Not a parameter, but named by the 400 of a POST with another body type.
	headerContentType = "Content-Type"
)

// knownParams in the order they are checked, so the same bad request always
// gets the same answer.
var knownParams = [...]string{paramJID, paramDomain, paramURL, paramMethod, paramTransactionID, paramTimeout}

// The index of each parameter in knownParams (and rawValues).
const (
	iJID = iota
	iDomain
	iURL
	iMethod
	iTransactionID
	iTimeout
	numParams
)

// maxParamName is the longest name in knownParams.
const maxParamName = len(paramTransactionID)

// Limits of SPEC section 2.
const (
	maxURLBytes    = 1024
	maxMethodBytes = 32
	// maxJIDBytes is RFC 7622's longest JID: three parts of 1023 bytes,
	// '@' and '/'. Checked before ParseJID so it never works on more.
	maxJIDBytes = 3*1023 + 2
)

// params are the validated parameters of one /auth request.
type params struct {
	JID    auth.JID
	URL    string
	Method string
	// TransactionID is the caller's id when given and valid, else "".
	TransactionID string
	// TransactionIDGiven reports whether transaction_id appeared at all
	// (valid or not), so a 400 never pairs an invalid id with a generated one.
	TransactionIDGiven bool
	Timeout            time.Duration
}

// paramError is a bad parameter: a 400 whose detail names it.
type paramError struct {
	Param  string // the parameter, as callers spell it
	Detail string // the text after "invalid: "; it starts with Param
}

func (e *paramError) Error() string { return "httpapi: invalid: " + e.Detail }

func badParam(name, problem string) *paramError {
	return &paramError{Param: name, Detail: name + ": " + problem}
}

func missing(name string) *paramError {
	return &paramError{Param: name, Detail: name + " is missing"}
}

func empty(name string) *paramError {
	return &paramError{Param: name, Detail: name + " is empty"}
}

func repeated(name string) *paramError {
	return &paramError{Param: name, Detail: name + " is given more than once"}
}

// errTooLarge is a POST body over the limit: a 413.
var errTooLarge = errors.New("httpapi: the request body is too large")

// readParams reads the parameters of r: the query string, plus a
// form-encoded body for POST. On error the returned params hold what the
// query string tells (notably a valid transaction id) and the error is a
// *paramError or errTooLarge.
func readParams(w http.ResponseWriter, r *http.Request, maxBody int64, defaultTimeout time.Duration) (params, error) {
	if r.Method != http.MethodPost {
		return parseParams(r.URL.RawQuery, "", defaultTimeout)
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		p, _ := parseParams(r.URL.RawQuery, "", defaultTimeout)
		return p, err
	}
	return parseParams(r.URL.RawQuery, body, defaultTimeout)
}

// readBody returns the form-encoded body of a POST ("" when there is
// none). It reads through http.MaxBytesReader, so a body over maxBody also
// closes the connection after the answer.
func readBody(w http.ResponseWriter, r *http.Request, maxBody int64) (string, error) {
	ct := r.Header.Get(headerContentType)
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return "", badParam(headerContentType, "must be application/x-www-form-urlencoded")
		}
	}
	if r.ContentLength > maxBody {
		// Refused unread: close the connection after the answer, or
		// net/http would wait for the body (to discard it) before sending.
		w.Header().Set("Connection", "close")
		return "", errTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", errTooLarge
		}
		return "", &paramError{Param: "body", Detail: "body: could not be read"}
	}
	if len(b) > 0 && ct == "" {
		return "", missing(headerContentType)
	}
	return string(b), nil
}

// rawValues are the values of the known parameters, from every source,
// indexed like knownParams.
type rawValues struct {
	n   [numParams]int    // how many times each was given
	raw [numParams]string // its first value, still percent-encoded
}

// collect adds the pairs of a form-encoded string (a query string or a
// body). Only '&' separates pairs (as in Go since 1.17; ';' is data).
// Unknown parameters are ignored, so old clients that send more keep
// working; a key that does not decode cannot be one of ours. Values are
// decoded later, and only those given once: a repeated one is refused
// whatever it holds.
func (rv *rawValues) collect(s string) {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		i := paramIndex(k)
		if i < 0 {
			continue
		}
		if rv.n[i] == 0 {
			rv.raw[i] = v
		}
		rv.n[i]++
	}
}

// decode returns the values given once, decoded as url.QueryUnescape
// decodes them; malformed reports those whose percent-encoding is broken.
// The values that need decoding share one new string.
func (rv *rawValues) decode() (vals [numParams]string, malformed [numParams]bool) {
	var encoded [numParams]bool
	size := 0
	for i, v := range rv.raw {
		if rv.n[i] == 1 && strings.ContainsAny(v, "%+") {
			encoded[i] = true
			size += len(v)
		} else {
			vals[i] = v
		}
	}
	if size == 0 {
		return vals, malformed
	}
	var stack [256]byte
	buf := stack[:0]
	if size > len(stack) {
		buf = make([]byte, 0, size)
	}
	var span [numParams][2]int // where each decoded value is in buf
	for i, v := range rv.raw {
		if !encoded[i] {
			continue
		}
		start := len(buf)
		var ok bool
		if buf, ok = appendUnescaped(buf, v); !ok {
			buf, malformed[i] = buf[:start], true
		}
		span[i] = [2]int{start, len(buf)}
	}
	all := string(buf)
	for i := range vals {
		if encoded[i] {
			vals[i] = all[span[i][0]:span[i][1]]
		}
	}
	return vals, malformed
}

// appendUnescaped appends s decoded as url.QueryUnescape decodes it ('+'
// is a space); ok is false when a '%' is not followed by two hex digits.
func appendUnescaped(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return b, false
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
		case '+':
			b = append(b, ' ')
			i++
		default:
			b = append(b, c)
			i++
		}
	}
	return b, true
}

// paramIndex returns the index in knownParams of the percent-encoded key
// k, or -1 when it decodes to no known parameter or does not decode (as
// url.QueryUnescape decodes, without allocating).
func paramIndex(k string) int {
	if strings.IndexByte(k, '%') < 0 {
		// A '+' decodes to a space, in no parameter's name.
		return knownIndex(k)
	}
	var buf [maxParamName]byte
	n := 0
	for i := 0; i < len(k); n++ {
		c := k[i]
		switch c {
		case '%':
			if i+2 >= len(k) || !isHex(k[i+1]) || !isHex(k[i+2]) {
				return -1
			}
			c = unhex(k[i+1])<<4 | unhex(k[i+2])
			i += 3
		case '+':
			return -1
		default:
			i++
		}
		if n == len(buf) {
			return -1
		}
		buf[n] = c
	}
	return knownIndex(string(buf[:n]))
}

// knownIndex returns the index of name in knownParams, or -1.
func knownIndex(name string) int {
	for i, k := range knownParams {
		if name == k {
			return i
		}
	}
	return -1
}

func isKnownParam(s string) bool { return knownIndex(s) >= 0 }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// parseParams validates the parameters of SPEC section 2, from a query
// string and a form-encoded body (either may be empty). A parameter given
// twice, in the same source or in both, is an error. It never fails but
// with a *paramError; the first problem in knownParams order is reported.
// The params returned with an error hold whatever did validate.
func parseParams(query, body string, defaultTimeout time.Duration) (params, error) {
	var rv rawValues
	rv.collect(query)
	rv.collect(body)

	var p params
	var first *paramError
	note := func(e *paramError) {
		if first == nil {
			first = e
		}
	}
	// Repetitions first: "given more than once" is the clearest answer
	// whatever the values are.
	for i, k := range knownParams {
		if rv.n[i] > 1 {
			note(repeated(k))
		}
	}
	vals, malformed := rv.decode()
	// one returns the single value of parameter i, decoded; ok is false
	// when the parameter is absent or already reported.
	one := func(i int) (string, bool) {
		switch {
		case rv.n[i] != 1:
			return "", false
		case malformed[i]:
			note(badParam(knownParams[i], "malformed percent-encoding"))
			return "", false
		}
		return vals[i], true
	}

	if v, ok := one(iJID); ok {
		j, err := parseJID(v)
		if err != nil {
			note(err)
		}
		p.JID = j
	} else if rv.n[iJID] == 0 {
		note(missing(paramJID))
	}

	domain, hasDomain := one(iDomain)
	u, hasURL := one(iURL)
	switch {
	case hasDomain && hasURL && domain != u:
		note(badParam(paramURL, "differs from domain (url is an alias of domain: give one of them)"))
	case hasDomain:
		p.URL, first = checkURL(paramDomain, domain, first)
	case hasURL:
		p.URL, first = checkURL(paramURL, u, first)
	case rv.n[iDomain] == 0 && rv.n[iURL] == 0:
		note(&paramError{Param: paramDomain, Detail: "domain is missing (give domain or its alias url)"})
	}

	if v, ok := one(iMethod); ok {
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
	} else if rv.n[iMethod] == 0 {
		note(missing(paramMethod))
	}

	p.TransactionIDGiven = rv.n[iTransactionID] > 0
	if v, ok := one(iTransactionID); ok {
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
	if v, ok := one(iTimeout); ok {
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

// parseJID parses the jid parameter: a JID valid per RFC 7622, with a
// local part (a person, not a server).
func parseJID(v string) (auth.JID, *paramError) {
	const want = "must be user@host or user@host/resource"
	switch {
	case v == "":
		return auth.JID{}, empty(paramJID)
	case len(v) > maxJIDBytes:
		return auth.JID{}, badParam(paramJID, fmt.Sprintf("longer than %d bytes", maxJIDBytes))
	}
	j, err := auth.ParseJID(v)
	if err != nil {
		return auth.JID{}, badParam(paramJID, want+" ("+err.Error()+")")
	}
	if j.Local == "" {
		return auth.JID{}, badParam(paramJID, want+" (a server address is not a person)")
	}
	return j, nil
}

// checkURL validates the domain (or url) value: text that can go into an
// XML attribute, at most maxURLBytes. It returns the value and the first
// error so far.
func checkURL(name, v string, first *paramError) (string, *paramError) {
	var e *paramError
	switch {
	case v == "":
		e = empty(name)
	case len(v) > maxURLBytes:
		e = badParam(name, fmt.Sprintf("longer than %d bytes", maxURLBytes))
	case !utf8.ValidString(v):
		e = badParam(name, "must be UTF-8 text")
	case strings.ContainsFunc(v, notXMLText):
		e = badParam(name, "must not contain control characters")
	default:
		return v, first
	}
	if first == nil {
		first = e
	}
	return "", first
}

// notXMLText reports control characters (C0, DEL, C1) and the two
// non-characters XML 1.0 forbids; the XML encoder would otherwise replace
// them silently and the person would see a different text.
func notXMLText(r rune) bool {
	return unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF
}

// isToken reports whether s is an RFC 9110 token: 1*tchar.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// parseTimeout parses the timeout parameter: a whole decimal number of
// seconds, at least 1, ASCII digits only (no sign, no spaces, no base
// prefix). Values above MaxTimeout are lowered to it, however many digits
// they have (SPEC: above 300 it is lowered to 300).
func parseTimeout(v string) (time.Duration, *paramError) {
	const want = "must be a whole number of seconds, at least 1"
	if v == "" {
		return 0, empty(paramTimeout)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, badParam(paramTimeout, want)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil { // only digits: the number is beyond int64
		return MaxTimeout, nil
	}
	if n < 1 {
		return 0, badParam(paramTimeout, want)
	}
	if n > int64(MaxTimeout/time.Second) {
		return MaxTimeout, nil
	}
	return time.Duration(n) * time.Second, nil
}
