// Package config loads and checks the gateway's configuration: the
// httpAuth.conf file of the 2017 gateway (key=value lines, read by a codec
// of our own registered with spf13/viper), overridden key by key by
// HTTPAUTH_* environment variables, with the defaults of SPEC section 4.
//
// Nothing here reads the process environment or keeps global state: Load is
// given its getenv, and tests pass fakes.
package config

import (
	"net"
	"strconv"
	"time"
)

// Config is the checked configuration. Load fills every field; paths are
// already resolved against the configuration file's folder. A Config is a
// plain value: read it from any goroutine, but do not change it once shared.
type Config struct {
	// XMPPServerAddress is the XMPP server's host name or IP address (an
	// IPv6 address without brackets); see XMPPAddress.
	XMPPServerAddress string
	// XMPPServerPort is the component port (default 5347), or in client
	// mode the client port (default ClientModePort, 5222).
	XMPPServerPort int
	// XMPPJID is xmpp_jid as written: a domain (component mode) or an
	// account's JID with a local part (client mode, see ClientMode).
	XMPPJID string
	// XMPPSecret is the component secret or account password, read from
	// XMPPSecretFile when that is set. Never log it.
	XMPPSecret             string
	XMPPSecretFile         string
	XMPPDebug              bool
	XMPPVerifyCertValidity bool
	XMPPDefaultLang        string
	XMPPPingInterval       time.Duration

	// HTTPPort and HTTPSPort are -1 (off), 0 (any free port) or a port.
	HTTPPort      int
	HTTPSPort     int
	HTTPSCertPath string
	HTTPSKeyPath  string
	// HTTPTimeout is the default time a person has to answer (1 s to 300 s).
	HTTPTimeout time.Duration
	// HTTPBindAddressIPv4 is an IPv4 address or "" (no IPv4 listener);
	// "0.0.0.0" means every address, IPv4 and IPv6.
	HTTPBindAddressIPv4 string
	// HTTPBindAddressIPv6 is an IPv6 address WITHOUT brackets ("::1"),
	// ready for net.JoinHostPort, or "" (no IPv6 listener).
	HTTPBindAddressIPv6 string
	HTTPAPIKeysFile     string
	// HTTPAPIKeys holds the keys of http_api_keys, then those of
	// http_api_keys_file. Empty: callers need no key. Never log them.
	HTTPAPIKeys []string

	LimitPendingPerJID              int
	LimitRequestsPerJIDPerMinute    int
	LimitRequestsPerCallerPerSecond int
	LimitPendingTotal               int

	LogFormat          string // "text" or "json"
	LogLevel           string // "debug", "info", "warn" or "error"
	MetricsBindAddress string // host:port, or "" to serve /metrics on the HTTP listener
	ShutdownGrace      time.Duration

	// File is the configuration file that was read, "" if none.
	File string
	// Dir is File's folder, "" if there is no file. The messages.toml
	// next to the configuration is looked for there.
	Dir string

	// inlineKeys is how many of HTTPAPIKeys came from http_api_keys.
	inlineKeys int
}

// The configuration keys, in the order of SPEC section 4.
const (
	KeyXMPPServerAddress               = "xmpp_server_address"
	KeyXMPPServerPort                  = "xmpp_server_port"
	KeyXMPPJID                         = "xmpp_jid"
	KeyXMPPSecret                      = "xmpp_secret"
	KeyXMPPSecretFile                  = "xmpp_secret_file"
	KeyXMPPDebug                       = "xmpp_debug"
	KeyXMPPVerifyCertValidity          = "xmpp_verify_cert_validity"
	KeyXMPPDefaultLang                 = "xmpp_default_lang"
	KeyXMPPPingIntervalSec             = "xmpp_ping_interval_sec"
	KeyHTTPPort                        = "http_port"
	KeyHTTPSPort                       = "https_port"
	KeyHTTPSCertPath                   = "https_cert_path"
	KeyHTTPSKeyPath                    = "https_key_path"
	KeyHTTPTimeoutSec                  = "http_timeout_sec"
	KeyHTTPBindAddressIPv4             = "http_bind_address_ipv4"
	KeyHTTPBindAddressIPv6             = "http_bind_address_ipv6"
	KeyHTTPAPIKeysFile                 = "http_api_keys_file"
	KeyHTTPAPIKeys                     = "http_api_keys"
	KeyLimitPendingPerJID              = "limit_pending_per_jid"
	KeyLimitRequestsPerJIDPerMinute    = "limit_requests_per_jid_per_minute"
	KeyLimitRequestsPerCallerPerSecond = "limit_requests_per_caller_per_second"
	KeyLimitPendingTotal               = "limit_pending_total"
	KeyLogFormat                       = "log_format"
	KeyLogLevel                        = "log_level"
	KeyMetricsBindAddress              = "metrics_bind_address"
	KeyShutdownGraceSec                = "shutdown_grace_sec"
)

// ClientModePort is xmpp_server_port's default in client mode (the RFC
// 6120 client port), when the key is set neither in the file nor in the
// environment.
const ClientModePort = 5222

// EnvPrefix starts the name of every environment variable of the gateway:
// HTTPAUTH_ + the key in capitals.
const EnvPrefix = "HTTPAUTH_"

// MaskedValue is what Masked and the error texts show instead of a secret.
const MaskedValue = "***"

// keyInfo describes one key: its default as it would be written in the
// file, and whether its value must never be shown.
type keyInfo struct {
	name   string
	def    string
	secret bool
}

// keys is the table of SPEC section 4. It is never modified.
var keys = []keyInfo{
	{name: KeyXMPPServerAddress, def: "127.0.0.1"},
	{name: KeyXMPPServerPort, def: "5347"},
	{name: KeyXMPPJID},
	{name: KeyXMPPSecret, secret: true},
	{name: KeyXMPPSecretFile},
	{name: KeyXMPPDebug, def: "false"},
	{name: KeyXMPPVerifyCertValidity, def: "true"},
	{name: KeyXMPPDefaultLang, def: "en"},
	{name: KeyXMPPPingIntervalSec, def: "15"},
	{name: KeyHTTPPort, def: "-1"},
	{name: KeyHTTPSPort, def: "-1"},
	{name: KeyHTTPSCertPath, def: "./cert.pem"},
	{name: KeyHTTPSKeyPath, def: "./key.pem"},
	{name: KeyHTTPTimeoutSec, def: "60"},
	{name: KeyHTTPBindAddressIPv4, def: "127.0.0.1"},
	{name: KeyHTTPBindAddressIPv6, def: "[::1]"},
	{name: KeyHTTPAPIKeysFile},
	{name: KeyHTTPAPIKeys, secret: true},
	{name: KeyLimitPendingPerJID, def: "3"},
	{name: KeyLimitRequestsPerJIDPerMinute, def: "10"},
	{name: KeyLimitRequestsPerCallerPerSecond, def: "20"},
	{name: KeyLimitPendingTotal, def: "20000"},
	{name: KeyLogFormat, def: "text"},
	{name: KeyLogLevel, def: "info"},
	{name: KeyMetricsBindAddress},
	{name: KeyShutdownGraceSec, def: "10"},
}

// Keys returns every configuration key, in the order of SPEC section 4
// (the order --check-config prints them in).
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// Default returns the default of key as it would be written in the file
// ("" for keys without one), and whether key is known.
func Default(key string) (string, bool) {
	for _, k := range keys {
		if k.name == key {
			return k.def, true
		}
	}
	return "", false
}

// EnvName returns the environment variable that overrides key.
func EnvName(key string) string { return EnvPrefix + upper(key) }

// XMPPAddress returns the XMPP server's address as host:port, for
// net.Dial.
func (c *Config) XMPPAddress() string {
	return net.JoinHostPort(c.XMPPServerAddress, strconv.Itoa(c.XMPPServerPort))
}

// ClientMode reports whether the gateway logs in as an ordinary account
// (xmpp_jid has a local part) rather than as an external component.
func (c *Config) ClientMode() bool { return isClientJID(c.XMPPJID) }

// Masked returns every key of Keys with its effective value, written as in
// the file, for --check-config. Secrets that are set show as "***": the
// secret itself, and the inline API keys (the keys of http_api_keys_file
// are not listed either: only the file's path is).
func (c *Config) Masked() map[string]string {
	secret := ""
	if c.XMPPSecret != "" && c.XMPPSecretFile == "" {
		secret = MaskedValue
	}
	apiKeys := ""
	if c.inlineKeys > 0 {
		apiKeys = MaskedValue
	}
	ipv6 := c.HTTPBindAddressIPv6
	if ipv6 != "" {
		ipv6 = "[" + ipv6 + "]"
	}
	itoa := strconv.Itoa
	sec := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	return map[string]string{
		KeyXMPPServerAddress:               c.XMPPServerAddress,
		KeyXMPPServerPort:                  itoa(c.XMPPServerPort),
		KeyXMPPJID:                         c.XMPPJID,
		KeyXMPPSecret:                      secret,
		KeyXMPPSecretFile:                  c.XMPPSecretFile,
		KeyXMPPDebug:                       strconv.FormatBool(c.XMPPDebug),
		KeyXMPPVerifyCertValidity:          strconv.FormatBool(c.XMPPVerifyCertValidity),
		KeyXMPPDefaultLang:                 c.XMPPDefaultLang,
		KeyXMPPPingIntervalSec:             sec(c.XMPPPingInterval),
		KeyHTTPPort:                        itoa(c.HTTPPort),
		KeyHTTPSPort:                       itoa(c.HTTPSPort),
		KeyHTTPSCertPath:                   c.HTTPSCertPath,
		KeyHTTPSKeyPath:                    c.HTTPSKeyPath,
		KeyHTTPTimeoutSec:                  sec(c.HTTPTimeout),
		KeyHTTPBindAddressIPv4:             c.HTTPBindAddressIPv4,
		KeyHTTPBindAddressIPv6:             ipv6,
		KeyHTTPAPIKeysFile:                 c.HTTPAPIKeysFile,
		KeyHTTPAPIKeys:                     apiKeys,
		KeyLimitPendingPerJID:              itoa(c.LimitPendingPerJID),
		KeyLimitRequestsPerJIDPerMinute:    itoa(c.LimitRequestsPerJIDPerMinute),
		KeyLimitRequestsPerCallerPerSecond: itoa(c.LimitRequestsPerCallerPerSecond),
		KeyLimitPendingTotal:               itoa(c.LimitPendingTotal),
		KeyLogFormat:                       c.LogFormat,
		KeyLogLevel:                        c.LogLevel,
		KeyMetricsBindAddress:              c.MetricsBindAddress,
		KeyShutdownGraceSec:                sec(c.ShutdownGrace),
	}
}
