package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// What is allowed, as the problems say it.
const (
	allowPort         = "a whole number from 1 to 65535"
	allowListenPort   = "-1 (off), 0 (any free port) or a whole number from 1 to 65535"
	allowBool         = "true or false (or 1 or 0)"
	allowPing         = "a whole number of seconds from 1 to 86400"
	allowTimeout      = "a whole number from 1 to 300"
	allowLimit        = "a whole number, 0 (no limit) or more"
	allowGrace        = "a whole number of seconds from 0 to 86400"
	allowLogFormat    = `"text" or "json"`
	allowLogLevel     = `"debug", "info", "warn" or "error"`
	allowIPv4         = "an IPv4 address such as 127.0.0.1, 0.0.0.0 (every address), or empty (no IPv4 listener)"
	allowIPv6         = "an IPv6 address such as [::1], [::] (every address), or empty (no IPv6 listener)"
	allowMetrics      = "host:port such as 127.0.0.1:9090 or [::1]:9090, or empty (/metrics on the HTTP listener)"
	allowServer       = "a host name or an IP address, without a port"
	allowJID          = "the component's domain such as auth.example.org, or for client mode an account such as gateway@example.org/auth"
	allowLangTag      = "a language tag such as en or pt-BR"
	allowAPIKeys      = "API keys separated by commas"
	maxSecondsSetting = 86400
	maxTimeoutSec     = 300
)

// checker turns raw values into typed fields, collecting every problem.
type checker struct {
	raw      map[string]rawValue
	dir      string // the configuration file's folder, "" without a file
	problems []string

	secretFileMode fs.FileMode // of xmpp_secret_file, once read
}

// label names key in a problem, with the variable it came from when that is
// the environment (the file and the environment may disagree).
func (ch *checker) label(key string) string {
	if ch.raw[key].src == fromEnv {
		return key + " (from " + EnvName(key) + ")"
	}
	return key
}

// shown is key's value as a problem may show it.
func (ch *checker) shown(key string) string {
	for _, k := range keys {
		if k.name == key && k.secret {
			return strconv.Quote(MaskedValue)
		}
	}
	return strconv.Quote(ch.raw[key].text)
}

func (ch *checker) add(format string, args ...any) {
	ch.problems = append(ch.problems, fmt.Sprintf(format, args...))
}

// bad records that key's value is not one of allowed.
func (ch *checker) bad(key, allowed string) {
	ch.add("%s: %s is not allowed: %s", ch.label(key), ch.shown(key), allowed)
}

// missing records that key, which has no default, was not given.
func (ch *checker) missing(key, wanted string) {
	ch.add("%s: missing: %s", key, wanted)
}

// text returns key's raw value.
func (ch *checker) text(key string) string { return ch.raw[key].text }

// integer parses key as a whole number within lo..hi.
func (ch *checker) integer(key string, lo, hi int, allowed string) int {
	n, err := strconv.Atoi(strings.TrimSpace(ch.text(key)))
	if err != nil || n < lo || n > hi {
		ch.bad(key, allowed)
		return 0
	}
	return n
}

func (ch *checker) seconds(key string, lo, hi int, allowed string) time.Duration {
	return time.Duration(ch.integer(key, lo, hi, allowed)) * time.Second
}

// listenPort parses http_port or https_port; ok is false when the value
// is not allowed.
func (ch *checker) listenPort(key string) (port int, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(ch.text(key)))
	if err != nil || n < -1 || n > 65535 {
		ch.bad(key, allowListenPort)
		return -1, false
	}
	return n, true
}

func (ch *checker) boolean(key string) bool {
	switch strings.ToLower(strings.TrimSpace(ch.text(key))) {
	case "true", "1":
		return true
	case "false", "0":
		return false
	}
	ch.bad(key, allowBool)
	return false
}

// oneOf returns key's value, lower-cased, if it is one of allowed.
func (ch *checker) oneOf(key string, values []string, allowed string) string {
	s := strings.ToLower(strings.TrimSpace(ch.text(key)))
	if !slices.Contains(values, s) {
		ch.bad(key, allowed)
		return ""
	}
	return s
}

// path returns key's value, made relative to the file's folder unless it
// came from the environment. Defaults count as written in the file:
// uncommenting "#https_cert_path=./cert.pem" must change nothing.
func (ch *checker) path(key string) string {
	p := ch.text(key)
	if p != "" && ch.raw[key].src != fromEnv && ch.dir != "" && !filepath.IsAbs(p) {
		return filepath.Join(ch.dir, p)
	}
	return p
}

// shownPath is key's value as seen, and the resolved path when different.
func (ch *checker) shownPath(key, resolved string) string {
	s := strconv.Quote(ch.text(key))
	if resolved != ch.text(key) {
		s += " (" + resolved + ")"
	}
	return s
}

// readFile reads the file key names, recording a problem when it cannot.
// why completes the problem ("" or e.g. " (needed as https_port is on)").
func (ch *checker) readFile(key, p, why string) ([]byte, bool) {
	data, err := os.ReadFile(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is shown already
		}
		ch.add("%s: %s cannot be read: %v%s", ch.label(key), ch.shownPath(key, p), err, why)
		return nil, false
	}
	return data, true
}

// fill checks every key and fills c.
func (ch *checker) fill(c *Config, langs func(string) ([]string, error)) {
	c.XMPPServerAddress = ch.serverAddress()
	c.XMPPServerPort = ch.integer(KeyXMPPServerPort, 1, 65535, allowPort)
	c.XMPPJID = ch.jid()
	if isClientJID(c.XMPPJID) && ch.raw[KeyXMPPServerPort].src == fromDefault {
		// Client mode logs in on the server's client port; 5347 is the
		// component port's default.
		c.XMPPServerPort = ClientModePort
	}
	c.XMPPSecret, c.XMPPSecretFile = ch.secret()
	c.XMPPDebug = ch.boolean(KeyXMPPDebug)
	c.XMPPVerifyCertValidity = ch.boolean(KeyXMPPVerifyCertValidity)
	c.XMPPDefaultLang = ch.lang(langs)
	c.XMPPPingInterval = ch.seconds(KeyXMPPPingIntervalSec, 1, maxSecondsSetting, allowPing)

	var httpOK, httpsOK bool
	c.HTTPPort, httpOK = ch.listenPort(KeyHTTPPort)
	c.HTTPSPort, httpsOK = ch.listenPort(KeyHTTPSPort)
	if c.HTTPPort == -1 && c.HTTPSPort == -1 && httpOK && httpsOK {
		ch.add("%s, %s: both are -1 (off): turn at least one on (0 picks a free port)", ch.label(KeyHTTPPort), ch.label(KeyHTTPSPort))
	}
	c.HTTPSCertPath = ch.path(KeyHTTPSCertPath)
	c.HTTPSKeyPath = ch.path(KeyHTTPSKeyPath)
	if c.HTTPSPort != -1 {
		const why = " (needed as https_port is on)"
		ch.readFile(KeyHTTPSCertPath, c.HTTPSCertPath, why)
		ch.readFile(KeyHTTPSKeyPath, c.HTTPSKeyPath, why)
	}
	c.HTTPTimeout = ch.seconds(KeyHTTPTimeoutSec, 1, maxTimeoutSec, allowTimeout)
	c.HTTPBindAddressIPv4 = ch.ipv4()
	c.HTTPBindAddressIPv6 = ch.ipv6()
	c.HTTPAPIKeys, c.HTTPAPIKeysFile, c.inlineKeys = ch.apiKeys()

	c.LimitPendingPerJID = ch.integer(KeyLimitPendingPerJID, 0, maxInt, allowLimit)
	c.LimitRequestsPerJIDPerMinute = ch.integer(KeyLimitRequestsPerJIDPerMinute, 0, maxInt, allowLimit)
	c.LimitRequestsPerCallerPerSecond = ch.integer(KeyLimitRequestsPerCallerPerSecond, 0, maxInt, allowLimit)
	c.LimitPendingTotal = ch.integer(KeyLimitPendingTotal, 0, maxInt, allowLimit)

	c.LogFormat = ch.oneOf(KeyLogFormat, []string{"text", "json"}, allowLogFormat)
	c.LogLevel = ch.oneOf(KeyLogLevel, []string{"debug", "info", "warn", "error"}, allowLogLevel)
	c.MetricsBindAddress = ch.metrics()
	c.ShutdownGrace = ch.seconds(KeyShutdownGraceSec, 0, maxSecondsSetting, allowGrace)
}

const maxInt = int(^uint(0) >> 1)

func (ch *checker) serverAddress() string {
	s := strings.TrimSpace(ch.text(KeyXMPPServerAddress))
	if s == "" {
		ch.missing(KeyXMPPServerAddress, allowServer)
		return ""
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); ok && err == nil && a.Is6() {
			return inner
		}
		ch.bad(KeyXMPPServerAddress, allowServer)
		return ""
	}
	if strings.Contains(s, ":") {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
			return s
		}
		ch.bad(KeyXMPPServerAddress, allowServer)
		return ""
	}
	if j, err := auth.ParseJID(s); err != nil || j.Local != "" || j.Resource != "" {
		ch.bad(KeyXMPPServerAddress, allowServer)
		return ""
	}
	return s
}

// isClientJID reports whether jid has a local part: the gateway then logs
// in as an ordinary account.
func isClientJID(jid string) bool {
	if i := strings.IndexByte(jid, '/'); i >= 0 {
		jid = jid[:i]
	}
	return strings.Contains(jid, "@")
}

func (ch *checker) jid() string {
	s := strings.TrimSpace(ch.text(KeyXMPPJID))
	if s == "" {
		ch.missing(KeyXMPPJID, allowJID)
		return ""
	}
	j, err := auth.ParseJID(s)
	// A component is a domain: "auth.example.org/x" has no meaning.
	if err != nil || (j.Local == "" && j.Resource != "") {
		ch.bad(KeyXMPPJID, allowJID)
		return ""
	}
	return s
}

// secret returns the secret and the file it was read from, if any. When
// xmpp_secret and xmpp_secret_file come from different places, the one from
// the environment wins over the file's, as for any other key.
func (ch *checker) secret() (secret, file string) {
	inline, fromPath := ch.raw[KeyXMPPSecret], ch.raw[KeyXMPPSecretFile]
	if inline.text != "" && fromPath.text != "" {
		if inline.src == fromPath.src {
			where := "in the file"
			if inline.src == fromEnv {
				where = "in the environment (" + EnvName(KeyXMPPSecret) + ", " + EnvName(KeyXMPPSecretFile) + ")"
			}
			ch.add("%s, %s: both are set %s: set only one", KeyXMPPSecret, KeyXMPPSecretFile, where)
			return "", ""
		}
		if inline.src > fromPath.src {
			return inline.text, ""
		}
		inline.text = ""
	}
	if inline.text != "" {
		return inline.text, ""
	}
	if fromPath.text == "" {
		ch.missing(KeyXMPPSecret, "the secret shared with the XMPP server (or xmpp_secret_file, a file holding it)")
		return "", ""
	}
	p := ch.path(KeyXMPPSecretFile)
	data, ok := ch.readFile(KeyXMPPSecretFile, p, "")
	if !ok {
		return "", p
	}
	if fi, err := os.Stat(p); err == nil {
		ch.secretFileMode = fi.Mode()
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		ch.add("%s: %s is empty: it must hold the secret", ch.label(KeyXMPPSecretFile), ch.shownPath(KeyXMPPSecretFile, p))
	}
	return s, p
}

func (ch *checker) lang(langs func(string) ([]string, error)) string {
	s := strings.TrimSpace(ch.text(KeyXMPPDefaultLang))
	if langs == nil {
		if !validLangTag(s) {
			ch.bad(KeyXMPPDefaultLang, allowLangTag)
			return ""
		}
		return s
	}
	have, err := langs(ch.dir)
	if err != nil {
		ch.add("%s: %s cannot be checked: %v", ch.label(KeyXMPPDefaultLang), ch.shown(KeyXMPPDefaultLang), err)
		return ""
	}
	for _, l := range have {
		if strings.EqualFold(l, s) {
			return l
		}
	}
	list := "none"
	if len(have) > 0 {
		list = strings.Join(have, ", ")
	}
	ch.bad(KeyXMPPDefaultLang, "a language of the messages file: "+list)
	return ""
}

// validLangTag reports whether s looks like a BCP 47 tag: letters and
// digits in parts of 1 to 8 separated by '-'.
func validLangTag(s string) bool {
	if s == "" || len(s) > 35 {
		return false
	}
	for _, part := range strings.Split(s, "-") {
		if part == "" || len(part) > 8 {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= part[i] && part[i] <= '9') {
				return false
			}
		}
	}
	return true
}

func (ch *checker) ipv4() string {
	s := strings.TrimSpace(ch.text(KeyHTTPBindAddressIPv4))
	if s == "" {
		return ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		ch.bad(KeyHTTPBindAddressIPv4, allowIPv4)
		return ""
	}
	return a.String()
}

func (ch *checker) ipv6() string {
	s := strings.TrimSpace(ch.text(KeyHTTPBindAddressIPv6))
	if s == "" {
		return ""
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if s, ok = strings.CutSuffix(inner, "]"); !ok {
			ch.bad(KeyHTTPBindAddressIPv6, allowIPv6)
			return ""
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		ch.bad(KeyHTTPBindAddressIPv6, allowIPv6)
		return ""
	}
	return a.String()
}

func (ch *checker) metrics() string {
	s := strings.TrimSpace(ch.text(KeyMetricsBindAddress))
	if s == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || strings.ContainsAny(host, " \t") {
		ch.bad(KeyMetricsBindAddress, allowMetrics)
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ch.bad(KeyMetricsBindAddress, allowMetrics)
		return ""
	}
	return s
}

// apiKeys returns the inline keys then the file's, the file's path, and how
// many keys were inline. No problem ever shows a key.
func (ch *checker) apiKeys() (all []string, file string, inline int) {
	if raw := ch.text(KeyHTTPAPIKeys); raw != "" {
		for k := range strings.SplitSeq(raw, ",") {
			if k = strings.TrimSpace(k); k != "" {
				all = append(all, k)
			}
		}
		if len(all) == 0 {
			ch.bad(KeyHTTPAPIKeys, allowAPIKeys+" (it holds none)")
		}
	}
	inline = len(all)
	if ch.text(KeyHTTPAPIKeysFile) == "" {
		return all, "", inline
	}
	file = ch.path(KeyHTTPAPIKeysFile)
	data, ok := ch.readFile(KeyHTTPAPIKeysFile, file, "")
	if !ok {
		return all, file, inline
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		all = append(all, line)
		n++
	}
	if n == 0 {
		// An empty key list lets every caller in: surely not what a file
		// of keys was meant for.
		ch.add("%s: %s holds no key: one key per line (to let every caller in, leave %s empty)", ch.label(KeyHTTPAPIKeysFile), ch.shownPath(KeyHTTPAPIKeysFile, file), KeyHTTPAPIKeysFile)
	}
	return all, file, inline
}
