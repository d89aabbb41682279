package config

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// secret is the secret of the test configurations: no error text or
// warning may ever contain it.
const secret = "s3cr3t-Value#1"

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// base is a valid minimal configuration.
var base = map[string]string{
	"xmpp_jid":    "auth.example.org",
	"xmpp_secret": secret,
	"http_port":   "8080",
}

// render returns base with over applied (a "-" value removes the key) as
// file content, keys sorted.
func render(over map[string]string) string {
	m := maps.Clone(base)
	for k, v := range over {
		if v == "-" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + "=" + m[k] + "\n")
	}
	return b.String()
}

// loadText writes content as dir/httpAuth.conf and loads it.
func loadText(t *testing.T, dir, content string, getenv map[string]string) (*Config, []string, error) {
	t.Helper()
	p := writeFile(t, dir, "httpAuth.conf", content)
	return Load(p, env(getenv), nil)
}

// problems returns the problems of a *ValidationError, failing otherwise.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
	}
	return ve.Problems
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{"hash inside a value is kept", "k=ab#cd # not a comment", map[string]any{"k": "ab#cd # not a comment"}},
		{"dollar is not expanded", "k=$HOME/${USER}", map[string]any{"k": "$HOME/${USER}"}},
		{"double quotes are part of the value", `k="quoted"`, map[string]any{"k": `"quoted"`}},
		{"single quotes are part of the value", `k='q'`, map[string]any{"k": `'q'`}},
		{"value after the first equals sign", "a==b", map[string]any{"a": "=b"}},
		{"equals signs inside the value", "k=x=y=z", map[string]any{"k": "x=y=z"}},
		{"spaces around key and value trimmed", "  k  =   value with  spaces   ", map[string]any{"k": "value with  spaces"}},
		{"tabs trimmed", "\tk\t=\tv\t", map[string]any{"k": "v"}},
		{"empty value", "k=", map[string]any{"k": ""}},
		{"carriage return inside a value kept", "k=a\rb\r", map[string]any{"k": "a\rb"}},
		{"CRLF line ends", "a=1\r\nb=2\r\n", map[string]any{"a": "1", "b": "2"}},
		{"comments and blank lines", "# c=1\n\n   \n  # indented comment\nb=2\n#\n", map[string]any{"b": "2"}},
		{"byte order mark", "\uFEFFk=v", map[string]any{"k": "v"}},
		{"keys are case-insensitive", "XMPP_Jid=Auth.Example.org", map[string]any{"xmpp_jid": "Auth.Example.org"}},
		{"no final newline", "a=1\nb=2", map[string]any{"a": "1", "b": "2"}},
		{"empty file", "", map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]any{}
			if err := (fileCodec{}).Decode([]byte(tc.in), got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	known := map[string]bool{"xmpp_jid": true, "xmpp_secret": true}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"line without equals sign", "xmpp_jid=a\nxmpp_secret " + secret,
			`line 2: no "=" on this line (key=value expected; the line is not shown, it may hold a secret)`},
		{"no key", "\n\n= " + secret,
			`line 3: no key before "="`},
		{"key is not a key name", "xmpp secret " + secret + "=x",
			`line 1: the text before "=" is not a key name (letters, digits and "_"; not shown, it may hold a secret)`},
		{"unknown key", "xmpp_jid=a\nxmpp_port=5347",
			`line 2: unknown key "xmpp_port"`},
		{"key set twice", "xmpp_secret=" + secret + "\nxmpp_jid=a\nXMPP_SECRET=" + secret,
			`line 3: key "xmpp_secret" is already set on line 1`},
		{"every bad line at once", "one " + secret + "\nxmpp_jid=a\nhttp=1\n" + secret + "\n=x",
			"line 1: no \"=\" on this line (key=value expected; the line is not shown, it may hold a secret)\n" +
				"line 3: unknown key \"http\"\n" +
				"line 4: no \"=\" on this line (key=value expected; the line is not shown, it may hold a secret)\n" +
				"line 5: no key before \"=\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := (fileCodec{known: known}).Decode([]byte(tc.in), map[string]any{})
			if err == nil {
				t.Fatal("Decode: no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %s", err)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	m := map[string]any{"b": "x = y", "a": "#1 $HOME", "c": ""}
	b, err := (fileCodec{}).Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a=#1 $HOME\nb=x = y\nc=\n"; string(b) != want {
		t.Errorf("Encode = %q, want %q", b, want)
	}
	back := map[string]any{}
	if err := (fileCodec{}).Decode(b, back); err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("round trip = %q, %v; want %q", back, err, m)
	}
	for _, bad := range []map[string]any{
		{"k": "two\nlines"}, {"k": " padded"}, {"k": 1}, {"a b": "x"}, {"K": "x"},
	} {
		if _, err := (fileCodec{}).Encode(bad); err == nil {
			t.Errorf("Encode(%q): no error", bad)
		}
	}
}

// FuzzDecode checks that Decode never panics, and that what it reads is
// written back and read again the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "a=b", "a==b", "#x\nk = v # w\r\n", "\uFEFFk=v", "no equals", "=v",
		"k=\"q\" 'r' $HOME", "a=1\na=2", "x y=z", "k=\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := map[string]any{}
		if err := (fileCodec{}).Decode([]byte(s), m); err != nil {
			if _, ok := err.(parseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		b, err := (fileCodec{}).Encode(m)
		if err != nil {
			t.Fatalf("Encode(%q): %v", m, err)
		}
		back := map[string]any{}
		if err := (fileCodec{}).Decode(b, back); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip of %q = %q, %v", m, back, err)
		}
	})
}

func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	c, warnings, err := loadText(t, dir, render(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
	file := filepath.Join(dir, "httpAuth.conf")
	want := &Config{
		XMPPServerAddress:               "127.0.0.1",
		XMPPServerPort:                  5347,
		XMPPJID:                         "auth.example.org",
		XMPPSecret:                      secret,
		XMPPVerifyCertValidity:          true,
		XMPPDefaultLang:                 "en",
		XMPPPingInterval:                15 * time.Second,
		HTTPPort:                        8080,
		HTTPSPort:                       -1,
		HTTPSCertPath:                   filepath.Join(dir, "cert.pem"),
		HTTPSKeyPath:                    filepath.Join(dir, "key.pem"),
		HTTPTimeout:                     60 * time.Second,
		HTTPBindAddressIPv4:             "127.0.0.1",
		HTTPBindAddressIPv6:             "::1",
		LimitPendingPerJID:              3,
		LimitRequestsPerJIDPerMinute:    10,
		LimitRequestsPerCallerPerSecond: 20,
		LimitPendingTotal:               20000,
		LogFormat:                       "text",
		LogLevel:                        "info",
		ShutdownGrace:                   10 * time.Second,
		File:                            file,
		Dir:                             dir,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if got := c.XMPPAddress(); got != "127.0.0.1:5347" {
		t.Errorf("XMPPAddress = %q", got)
	}
	if c.ClientMode() {
		t.Error("ClientMode = true for a domain")
	}
}

// TestOldGatewayFile loads a file written for the 2017 gateway.
func TestOldGatewayFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "certs/cert.pem", "cert")
	writeFile(t, dir, "certs/key.pem", "key")
	const old = `# Configuration of HTTPAuthentificationOverXMPP
xmpp_server_address=192.168.1.2
xmpp_server_port=5348
xmpp_jid=auth.example.org
xmpp_secret=` + secret + `
xmpp_debug=true
xmpp_verify_cert_validity=false
xmpp_default_lang=fr

http_port=9090
https_port=9093
http_timeout_sec=120
https_cert_path=certs/cert.pem
https_key_path=` + "certs/key.pem" + `
http_bind_address_ipv4=0.0.0.0
http_bind_address_ipv6=[::]
`
	c, _, err := loadText(t, dir, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.XMPPServerAddress, c.XMPPServerPort, c.XMPPJID, c.XMPPSecret, c.XMPPDebug,
		c.XMPPVerifyCertValidity, c.XMPPDefaultLang, c.HTTPPort, c.HTTPSPort, c.HTTPTimeout,
		c.HTTPSCertPath, c.HTTPSKeyPath, c.HTTPBindAddressIPv4, c.HTTPBindAddressIPv6}
	want := []any{"192.168.1.2", 5348, "auth.example.org", secret, true,
		false, "fr", 9090, 9093, 120 * time.Second,
		filepath.Join(dir, "certs/cert.pem"), filepath.Join(dir, "certs/key.pem"), "0.0.0.0", "::"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		file  map[string]string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"environment wins over the file",
			map[string]string{"http_timeout_sec": "30", "log_level": "debug"},
			map[string]string{"HTTPAUTH_HTTP_TIMEOUT_SEC": "45", "HTTPAUTH_LOG_FORMAT": "json"},
			func(t *testing.T, c *Config) {
				if c.HTTPTimeout != 45*time.Second || c.LogFormat != "json" || c.LogLevel != "debug" {
					t.Errorf("timeout %v, format %q, level %q", c.HTTPTimeout, c.LogFormat, c.LogLevel)
				}
			}},
		{"an empty variable does not override",
			map[string]string{"http_port": "8081"},
			map[string]string{"HTTPAUTH_HTTP_PORT": ""},
			func(t *testing.T, c *Config) {
				if c.HTTPPort != 8081 {
					t.Errorf("HTTPPort = %d", c.HTTPPort)
				}
			}},
		{"the limits turned off as test set-ups do",
			nil,
			map[string]string{"HTTPAUTH_LIMIT_PENDING_PER_JID": "0", "HTTPAUTH_LIMIT_REQUESTS_PER_JID_PER_MINUTE": "0",
				"HTTPAUTH_LIMIT_REQUESTS_PER_CALLER_PER_SECOND": "0", "HTTPAUTH_LIMIT_PENDING_TOTAL": "0"},
			func(t *testing.T, c *Config) {
				if c.LimitPendingPerJID != 0 || c.LimitRequestsPerJIDPerMinute != 0 || c.LimitRequestsPerCallerPerSecond != 0 || c.LimitPendingTotal != 0 {
					t.Errorf("limits %d %d %d %d", c.LimitPendingPerJID, c.LimitRequestsPerJIDPerMinute, c.LimitRequestsPerCallerPerSecond, c.LimitPendingTotal)
				}
			}},
		{"environment secret wins over the file's",
			nil,
			map[string]string{"HTTPAUTH_XMPP_SECRET": "from-env"},
			func(t *testing.T, c *Config) {
				if c.XMPPSecret != "from-env" {
					t.Errorf("XMPPSecret = %q", c.XMPPSecret)
				}
			}},
		{"environment secret file wins over the file's secret",
			nil,
			map[string]string{"HTTPAUTH_XMPP_SECRET_FILE": "SECRETFILE"},
			func(t *testing.T, c *Config) {
				if c.XMPPSecret != "from-file" || c.Masked()["xmpp_secret"] != "" {
					t.Errorf("XMPPSecret = %q, masked %q", c.XMPPSecret, c.Masked()["xmpp_secret"])
				}
			}},
		{"environment secret wins over the file's secret file",
			map[string]string{"xmpp_secret": "-", "xmpp_secret_file": "secret.txt"},
			map[string]string{"HTTPAUTH_XMPP_SECRET": "from-env"},
			func(t *testing.T, c *Config) {
				if c.XMPPSecret != "from-env" || c.XMPPSecretFile != "" {
					t.Errorf("XMPPSecret = %q, file %q", c.XMPPSecret, c.XMPPSecretFile)
				}
			}},
		{"environment paths are not relative to the file",
			nil,
			map[string]string{"HTTPAUTH_HTTPS_CERT_PATH": "rel/cert.pem"},
			func(t *testing.T, c *Config) {
				if c.HTTPSCertPath != "rel/cert.pem" {
					t.Errorf("HTTPSCertPath = %q", c.HTTPSCertPath)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sf := writeFile(t, dir, "secret.txt", "from-file\n")
			e := maps.Clone(tc.env)
			for k, v := range e {
				if v == "SECRETFILE" {
					e[k] = sf
				}
			}
			c, _, err := loadText(t, dir, render(tc.file), e)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadFromEnvironmentOnly(t *testing.T) {
	dir := t.TempDir()
	c, _, err := Load("", env(map[string]string{
		"XDG_CONFIG_HOME":      filepath.Join(dir, "none"),
		"XDG_CONFIG_DIRS":      filepath.Join(dir, "none2"),
		"HTTPAUTH_XMPP_JID":    "auth.example.org",
		"HTTPAUTH_XMPP_SECRET": secret,
		"HTTPAUTH_HTTP_PORT":   "0",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "" || c.Dir != "" || c.HTTPPort != 0 || c.XMPPSecret != secret || c.HTTPSCertPath != "./cert.pem" {
		t.Errorf("File %q, Dir %q, HTTPPort %d", c.File, c.Dir, c.HTTPPort)
	}
}

func TestFindFile(t *testing.T) {
	type layout struct {
		files []string // relative to the temp dir; each a valid configuration
		env   map[string]string
	}
	tests := []struct {
		name string
		l    layout
		want string // relative to the temp dir; "" for none
	}{
		{"XDG_CONFIG_HOME first",
			layout{[]string{"home/http-auth/httpAuth.conf", "etc/http-auth/httpAuth.conf"},
				map[string]string{"XDG_CONFIG_HOME": "@/home", "XDG_CONFIG_DIRS": "@/etc"}},
			"home/http-auth/httpAuth.conf"},
		{"HOME/.config when XDG_CONFIG_HOME is unset",
			layout{[]string{"user/.config/http-auth/httpAuth.conf", "etc/http-auth/httpAuth.conf"},
				map[string]string{"HOME": "@/user", "XDG_CONFIG_DIRS": "@/etc"}},
			"user/.config/http-auth/httpAuth.conf"},
		{"XDG_CONFIG_HOME set: HOME/.config is not looked at",
			layout{[]string{"user/.config/http-auth/httpAuth.conf"},
				map[string]string{"HOME": "@/user", "XDG_CONFIG_HOME": "@/home", "XDG_CONFIG_DIRS": "@/etc"}},
			""},
		{"XDG_CONFIG_DIRS in order, first existing wins",
			layout{[]string{"b/http-auth/httpAuth.conf", "c/http-auth/httpAuth.conf"},
				map[string]string{"XDG_CONFIG_HOME": "@/home", "XDG_CONFIG_DIRS": "@/a:@/b:@/c"}},
			"b/http-auth/httpAuth.conf"},
		{"empty and relative entries are skipped",
			layout{[]string{"c/http-auth/httpAuth.conf"},
				map[string]string{"XDG_CONFIG_HOME": "relative", "XDG_CONFIG_DIRS": "::relative:@/c"}},
			"c/http-auth/httpAuth.conf"},
		{"a folder in the way is not a file",
			layout{[]string{"b/http-auth/httpAuth.conf/x", "c/http-auth/httpAuth.conf"},
				map[string]string{"XDG_CONFIG_HOME": "@/home", "XDG_CONFIG_DIRS": "@/b:@/c"}},
			"c/http-auth/httpAuth.conf"},
		{"none at all",
			layout{nil, map[string]string{"XDG_CONFIG_HOME": "@/home", "XDG_CONFIG_DIRS": "@/a"}},
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.l.files {
				writeFile(t, dir, f, render(nil))
			}
			e := map[string]string{
				"HTTPAUTH_XMPP_JID": "auth.example.org", "HTTPAUTH_XMPP_SECRET": secret, "HTTPAUTH_HTTP_PORT": "1",
			}
			for k, v := range tc.l.env {
				e[k] = strings.ReplaceAll(v, "@", dir)
			}
			c, _, err := Load("", env(e), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tc.want != "" {
				want = filepath.Join(dir, tc.want)
			}
			if c.File != want {
				t.Errorf("File = %q, want %q", c.File, want)
			}
		})
	}
}

func TestExplicitPath(t *testing.T) {
	dir := t.TempDir()
	// A file in the XDG folder must not be read when a path is given.
	writeFile(t, dir, "xdg/http-auth/httpAuth.conf", "garbage")
	e := env(map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "xdg")})

	missing := filepath.Join(dir, "missing.conf")
	_, _, err := Load(missing, e, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error = %v, want fs.ErrNotExist", err)
	}
	if want := "config: stat " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing file: error = %v, want %s", err, want)
	}

	_, _, err = Load(dir, e, nil)
	if want := "config: " + dir + " is a folder, not a configuration file"; err == nil || err.Error() != want {
		t.Errorf("folder: error = %v, want %s", err, want)
	}

	p := writeFile(t, dir, "mine.conf", render(nil))
	c, _, err := Load(p, e, nil)
	if err != nil || c.File != p || c.Dir != dir {
		t.Errorf("Load = %+v, %v", c, err)
	}
}

func TestParseErrorInLoad(t *testing.T) {
	dir := t.TempDir()
	_, _, err := loadText(t, dir, "xmpp_jid=auth.example.org\n"+secret+"\nxmpp_secret="+secret+"\nxmpp_port=1\n", nil)
	p := filepath.Join(dir, "httpAuth.conf")
	want := []string{
		p + `:2: no "=" on this line (key=value expected; the line is not shown, it may hold a secret)`,
		p + `:4: unknown key "xmpp_port"`,
		// reported together with the problems of the values
		"http_port, https_port: both are -1 (off): turn at least one on (0 picks a free port)",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the secret: %s", err)
	}
	if !strings.HasPrefix(err.Error(), "config: "+p+":2: ") {
		t.Errorf("error = %s", err)
	}
}

func TestSecretFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"trailing newline dropped", secret + "\n", secret},
		{"trailing CRLF dropped", secret + "\r\n", secret},
		{"no trailing newline", secret, secret},
		{"only one newline dropped", secret + "\n\n", secret + "\n"},
		{"spaces kept", " " + secret + " \n", " " + secret + " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "private/secret", tc.content)
			c, _, err := loadText(t, dir, render(map[string]string{"xmpp_secret": "-", "xmpp_secret_file": "private/secret"}), nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.XMPPSecret != tc.want {
				t.Errorf("XMPPSecret = %q, want %q", c.XMPPSecret, tc.want)
			}
			if want := filepath.Join(dir, "private/secret"); c.XMPPSecretFile != want {
				t.Errorf("XMPPSecretFile = %q, want %q", c.XMPPSecretFile, want)
			}
			if got := c.Masked()["xmpp_secret"]; got != "" {
				t.Errorf("Masked xmpp_secret = %q, want empty (the file holds it)", got)
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "keys", "# callers\nkey-one\n\n  key-two  \r\n#old-key\n")
	c, _, err := loadText(t, dir, render(map[string]string{"http_api_keys": " a, b,,c ,", "http_api_keys_file": "keys"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "key-one", "key-two"}; !reflect.DeepEqual(c.HTTPAPIKeys, want) {
		t.Errorf("HTTPAPIKeys = %q, want %q", c.HTTPAPIKeys, want)
	}
	if c.HTTPAPIKeysFile != filepath.Join(dir, "keys") {
		t.Errorf("HTTPAPIKeysFile = %q", c.HTTPAPIKeysFile)
	}
	m := c.Masked()
	if m["http_api_keys"] != "***" || m["http_api_keys_file"] != filepath.Join(dir, "keys") {
		t.Errorf("Masked: http_api_keys %q, http_api_keys_file %q", m["http_api_keys"], m["http_api_keys_file"])
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		file  map[string]string
		env   map[string]string
		files map[string]string // extra files in the folder
		want  []string
	}{
		{name: "xmpp_server_address empty", file: map[string]string{"xmpp_server_address": ""},
			want: []string{`xmpp_server_address: missing: a host name or an IP address, without a port`}},
		{name: "xmpp_server_address with a port", file: map[string]string{"xmpp_server_address": "example.org:5347"},
			want: []string{`xmpp_server_address: "example.org:5347" is not allowed: a host name or an IP address, without a port`}},
		{name: "xmpp_server_address with a space", file: map[string]string{"xmpp_server_address": "exa mple.org"},
			want: []string{`xmpp_server_address: "exa mple.org" is not allowed: a host name or an IP address, without a port`}},
		{name: "xmpp_server_address bad IPv6", file: map[string]string{"xmpp_server_address": "[::1"},
			want: []string{`xmpp_server_address: "[::1" is not allowed: a host name or an IP address, without a port`}},
		{name: "xmpp_server_port 0", file: map[string]string{"xmpp_server_port": "0"},
			want: []string{`xmpp_server_port: "0" is not allowed: a whole number from 1 to 65535`}},
		{name: "xmpp_server_port too big", file: map[string]string{"xmpp_server_port": "65536"},
			want: []string{`xmpp_server_port: "65536" is not allowed: a whole number from 1 to 65535`}},
		{name: "xmpp_server_port not a number", file: map[string]string{"xmpp_server_port": "5347a"},
			want: []string{`xmpp_server_port: "5347a" is not allowed: a whole number from 1 to 65535`}},
		{name: "xmpp_jid missing", file: map[string]string{"xmpp_jid": "-"},
			want: []string{`xmpp_jid: missing: the component's domain such as auth.example.org, or for client mode an account such as gateway@example.org/auth`}},
		{name: "xmpp_jid domain with a resource", file: map[string]string{"xmpp_jid": "auth.example.org/x"},
			want: []string{`xmpp_jid: "auth.example.org/x" is not allowed: the component's domain such as auth.example.org, or for client mode an account such as gateway@example.org/auth`}},
		{name: "xmpp_jid not a JID", file: map[string]string{"xmpp_jid": "@example.org"},
			want: []string{`xmpp_jid: "@example.org" is not allowed: the component's domain such as auth.example.org, or for client mode an account such as gateway@example.org/auth`}},
		{name: "xmpp_secret missing", file: map[string]string{"xmpp_secret": "-"},
			want: []string{`xmpp_secret: missing: the secret shared with the XMPP server (or xmpp_secret_file, a file holding it)`}},
		{name: "xmpp_secret empty", file: map[string]string{"xmpp_secret": ""},
			want: []string{`xmpp_secret: missing: the secret shared with the XMPP server (or xmpp_secret_file, a file holding it)`}},
		{name: "xmpp_secret and xmpp_secret_file in the file", file: map[string]string{"xmpp_secret_file": "s"}, files: map[string]string{"s": "x"},
			want: []string{`xmpp_secret, xmpp_secret_file: both are set in the file: set only one`}},
		{name: "xmpp_secret and xmpp_secret_file in the environment", file: map[string]string{"xmpp_secret": "-"},
			env:  map[string]string{"HTTPAUTH_XMPP_SECRET": secret, "HTTPAUTH_XMPP_SECRET_FILE": "/x"},
			want: []string{`xmpp_secret, xmpp_secret_file: both are set in the environment (HTTPAUTH_XMPP_SECRET, HTTPAUTH_XMPP_SECRET_FILE): set only one`}},
		{name: "xmpp_secret_file missing", file: map[string]string{"xmpp_secret": "-", "xmpp_secret_file": "nope"},
			want: []string{`xmpp_secret_file: "nope" ({dir}/nope) cannot be read: no such file or directory`}},
		{name: "xmpp_secret_file empty", file: map[string]string{"xmpp_secret": "-", "xmpp_secret_file": "{dir}/s"}, files: map[string]string{"s": "\n"},
			want: []string{`xmpp_secret_file: "{dir}/s" is empty: it must hold the secret`}},
		{name: "xmpp_debug", file: map[string]string{"xmpp_debug": "yes"},
			want: []string{`xmpp_debug: "yes" is not allowed: true or false (or 1 or 0)`}},
		{name: "xmpp_verify_cert_validity", file: map[string]string{"xmpp_verify_cert_validity": ""},
			want: []string{`xmpp_verify_cert_validity: "" is not allowed: true or false (or 1 or 0)`}},
		{name: "xmpp_default_lang", file: map[string]string{"xmpp_default_lang": "en_US"},
			want: []string{`xmpp_default_lang: "en_US" is not allowed: a language tag such as en or pt-BR`}},
		{name: "xmpp_ping_interval_sec 0", file: map[string]string{"xmpp_ping_interval_sec": "0"},
			want: []string{`xmpp_ping_interval_sec: "0" is not allowed: a whole number of seconds from 1 to 86400`}},
		{name: "xmpp_ping_interval_sec fraction", file: map[string]string{"xmpp_ping_interval_sec": "1.5"},
			want: []string{`xmpp_ping_interval_sec: "1.5" is not allowed: a whole number of seconds from 1 to 86400`}},
		{name: "http_port -2", file: map[string]string{"http_port": "-2"},
			want: []string{`http_port: "-2" is not allowed: -1 (off), 0 (any free port) or a whole number from 1 to 65535`}},
		{name: "https_port too big", file: map[string]string{"https_port": "70000"},
			want: []string{`https_port: "70000" is not allowed: -1 (off), 0 (any free port) or a whole number from 1 to 65535`}},
		{name: "both ports off", file: map[string]string{"http_port": "-"},
			want: []string{`http_port, https_port: both are -1 (off): turn at least one on (0 picks a free port)`}},
		{name: "https on without certificate", file: map[string]string{"https_port": "8443"}, files: map[string]string{"key.pem": "k"},
			want: []string{`https_cert_path: "./cert.pem" ({dir}/cert.pem) cannot be read: no such file or directory (needed as https_port is on)`}},
		{name: "https on, key is a folder", file: map[string]string{"https_port": "0", "https_key_path": "{dir}"}, files: map[string]string{"cert.pem": "c"},
			want: []string{`https_key_path: "{dir}" cannot be read: is a directory (needed as https_port is on)`}},
		{name: "http_timeout_sec 0", file: map[string]string{"http_timeout_sec": "0"},
			want: []string{`http_timeout_sec: "0" is not allowed: a whole number from 1 to 300`}},
		{name: "http_timeout_sec 301", file: map[string]string{"http_timeout_sec": "301"},
			want: []string{`http_timeout_sec: "301" is not allowed: a whole number from 1 to 300`}},
		{name: "http_bind_address_ipv4 IPv6", file: map[string]string{"http_bind_address_ipv4": "::1"},
			want: []string{`http_bind_address_ipv4: "::1" is not allowed: an IPv4 address such as 127.0.0.1, 0.0.0.0 (every address), or empty (no IPv4 listener)`}},
		{name: "http_bind_address_ipv4 host name", file: map[string]string{"http_bind_address_ipv4": "localhost"},
			want: []string{`http_bind_address_ipv4: "localhost" is not allowed: an IPv4 address such as 127.0.0.1, 0.0.0.0 (every address), or empty (no IPv4 listener)`}},
		{name: "http_bind_address_ipv6 IPv4", file: map[string]string{"http_bind_address_ipv6": "[127.0.0.1]"},
			want: []string{`http_bind_address_ipv6: "[127.0.0.1]" is not allowed: an IPv6 address such as [::1], [::] (every address), or empty (no IPv6 listener)`}},
		{name: "http_bind_address_ipv6 half bracketed", file: map[string]string{"http_bind_address_ipv6": "[::1"},
			want: []string{`http_bind_address_ipv6: "[::1" is not allowed: an IPv6 address such as [::1], [::] (every address), or empty (no IPv6 listener)`}},
		{name: "http_api_keys_file missing", file: map[string]string{"http_api_keys_file": "/nonexistent/keys"},
			want: []string{`http_api_keys_file: "/nonexistent/keys" cannot be read: no such file or directory`}},
		{name: "http_api_keys_file without keys", file: map[string]string{"http_api_keys_file": "keys"}, files: map[string]string{"keys": "# none yet\n\n"},
			want: []string{`http_api_keys_file: "keys" ({dir}/keys) holds no key: one key per line (to let every caller in, leave http_api_keys_file empty)`}},
		{name: "http_api_keys only commas", env: map[string]string{"HTTPAUTH_HTTP_API_KEYS": " , ,"},
			want: []string{`http_api_keys (from HTTPAUTH_HTTP_API_KEYS): "***" is not allowed: API keys separated by commas (it holds none)`}},
		{name: "limit_pending_per_jid negative", file: map[string]string{"limit_pending_per_jid": "-1"},
			want: []string{`limit_pending_per_jid: "-1" is not allowed: a whole number, 0 (no limit) or more`}},
		{name: "limit_requests_per_jid_per_minute", file: map[string]string{"limit_requests_per_jid_per_minute": "ten"},
			want: []string{`limit_requests_per_jid_per_minute: "ten" is not allowed: a whole number, 0 (no limit) or more`}},
		{name: "limit_requests_per_caller_per_second", file: map[string]string{"limit_requests_per_caller_per_second": "2.5"},
			want: []string{`limit_requests_per_caller_per_second: "2.5" is not allowed: a whole number, 0 (no limit) or more`}},
		{name: "limit_pending_total", file: map[string]string{"limit_pending_total": "99999999999999999999"},
			want: []string{`limit_pending_total: "99999999999999999999" is not allowed: a whole number, 0 (no limit) or more`}},
		{name: "log_format", file: map[string]string{"log_format": "logfmt"},
			want: []string{`log_format: "logfmt" is not allowed: "text" or "json"`}},
		{name: "log_level", file: map[string]string{"log_level": "warning"},
			want: []string{`log_level: "warning" is not allowed: "debug", "info", "warn" or "error"`}},
		{name: "metrics_bind_address without port", file: map[string]string{"metrics_bind_address": "127.0.0.1"},
			want: []string{`metrics_bind_address: "127.0.0.1" is not allowed: host:port such as 127.0.0.1:9090 or [::1]:9090, or empty (/metrics on the HTTP listener)`}},
		{name: "metrics_bind_address bad port", file: map[string]string{"metrics_bind_address": "[::1]:http"},
			want: []string{`metrics_bind_address: "[::1]:http" is not allowed: host:port such as 127.0.0.1:9090 or [::1]:9090, or empty (/metrics on the HTTP listener)`}},
		{name: "shutdown_grace_sec negative", file: map[string]string{"shutdown_grace_sec": "-1"},
			want: []string{`shutdown_grace_sec: "-1" is not allowed: a whole number of seconds from 0 to 86400`}},
		{name: "a value from the environment names its variable", env: map[string]string{"HTTPAUTH_HTTP_TIMEOUT_SEC": "0"},
			want: []string{`http_timeout_sec (from HTTPAUTH_HTTP_TIMEOUT_SEC): "0" is not allowed: a whole number from 1 to 300`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			file := map[string]string{}
			for k, v := range tc.file {
				file[k] = strings.ReplaceAll(v, "{dir}", dir)
			}
			_, warnings, err := loadText(t, dir, render(file), tc.env)
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = strings.ReplaceAll(w, "{dir}", dir)
			}
			got := problems(t, err)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if want := "config: " + strings.Join(want, "\nconfig: "); err.Error() != want {
				t.Errorf("Error() =\n%s\nwant\n%s", err, want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(strings.Join(warnings, "\n"), secret) {
				t.Errorf("the secret shows: %s %q", err, warnings)
			}
		})
	}
}

func TestValidValues(t *testing.T) {
	tests := []struct {
		name  string
		file  map[string]string
		check func(c *Config) bool
	}{
		{"booleans 1 and 0", map[string]string{"xmpp_debug": "1", "xmpp_verify_cert_validity": "0"},
			func(c *Config) bool { return c.XMPPDebug && !c.XMPPVerifyCertValidity }},
		{"booleans in capitals", map[string]string{"xmpp_debug": "TRUE"},
			func(c *Config) bool { return c.XMPPDebug }},
		{"client mode JID", map[string]string{"xmpp_jid": "gateway@example.org/auth"},
			func(c *Config) bool { return c.ClientMode() && c.XMPPJID == "gateway@example.org/auth" }},
		{"client mode bare JID", map[string]string{"xmpp_jid": "gateway@example.org"},
			func(c *Config) bool { return c.ClientMode() }},
		{"client mode defaults to the client port", map[string]string{"xmpp_jid": "gateway@example.org/auth"},
			func(c *Config) bool {
				return c.XMPPServerPort == 5222 && c.XMPPAddress() == "127.0.0.1:5222" && c.Masked()["xmpp_server_port"] == "5222"
			}},
		{"client mode keeps a port that is set", map[string]string{"xmpp_jid": "gateway@example.org", "xmpp_server_port": "5347"},
			func(c *Config) bool { return c.XMPPServerPort == 5347 }},
		{"IPv6 server, bracketed", map[string]string{"xmpp_server_address": "[2001:db8::1]"},
			func(c *Config) bool {
				return c.XMPPServerAddress == "2001:db8::1" && c.XMPPAddress() == "[2001:db8::1]:5347"
			}},
		{"IPv6 server, bare", map[string]string{"xmpp_server_address": "::1"},
			func(c *Config) bool { return c.XMPPAddress() == "[::1]:5347" }},
		{"host name server", map[string]string{"xmpp_server_address": "xmpp.example.org"},
			func(c *Config) bool { return c.XMPPAddress() == "xmpp.example.org:5347" }},
		{"unbracketed IPv6 bind address", map[string]string{"http_bind_address_ipv6": "::"},
			func(c *Config) bool {
				return c.HTTPBindAddressIPv6 == "::" && c.Masked()["http_bind_address_ipv6"] == "[::]"
			}},
		{"no listeners on either address", map[string]string{"http_bind_address_ipv4": "", "http_bind_address_ipv6": ""},
			func(c *Config) bool { return c.HTTPBindAddressIPv4 == "" && c.HTTPBindAddressIPv6 == "" }},
		{"ports at the edges", map[string]string{"http_port": "0", "https_port": "-1", "xmpp_server_port": "65535"},
			func(c *Config) bool { return c.HTTPPort == 0 && c.HTTPSPort == -1 && c.XMPPServerPort == 65535 }},
		{"timeouts at the edges", map[string]string{"http_timeout_sec": "300", "xmpp_ping_interval_sec": "1", "shutdown_grace_sec": "0"},
			func(c *Config) bool {
				return c.HTTPTimeout == 300*time.Second && c.XMPPPingInterval == time.Second && c.ShutdownGrace == 0
			}},
		{"log settings in capitals", map[string]string{"log_format": "JSON", "log_level": "Warn"},
			func(c *Config) bool { return c.LogFormat == "json" && c.LogLevel == "warn" }},
		{"metrics on any address", map[string]string{"metrics_bind_address": ":9090"},
			func(c *Config) bool { return c.MetricsBindAddress == ":9090" }},
		{"language tag with region", map[string]string{"xmpp_default_lang": "pt-BR"},
			func(c *Config) bool { return c.XMPPDefaultLang == "pt-BR" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := loadText(t, t.TempDir(), render(tc.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

func TestLanguages(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "httpAuth.conf", render(map[string]string{"xmpp_default_lang": "FR"}))
	var gotDir string
	langs := func(d string) ([]string, error) { gotDir = d; return []string{"en", "fr"}, nil }
	c, _, err := Load(p, env(nil), langs)
	if err != nil {
		t.Fatal(err)
	}
	if c.XMPPDefaultLang != "fr" || gotDir != dir {
		t.Errorf("XMPPDefaultLang = %q, langs got dir %q", c.XMPPDefaultLang, gotDir)
	}

	tests := []struct {
		name  string
		langs func(string) ([]string, error)
		want  string
	}{
		{"not a language of the messages file",
			func(string) ([]string, error) { return []string{"en", "fr"}, nil },
			`xmpp_default_lang: "de" is not allowed: a language of the messages file: en, fr`},
		{"no language at all",
			func(string) ([]string, error) { return nil, nil },
			`xmpp_default_lang: "de" is not allowed: a language of the messages file: none`},
		{"messages file broken",
			func(string) ([]string, error) { return nil, errors.New("i18n: messages.toml: bad") },
			`xmpp_default_lang: "de" cannot be checked: i18n: messages.toml: bad`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "httpAuth.conf", render(map[string]string{"xmpp_default_lang": "de"}))
			_, _, err := Load(p, env(nil), tc.langs)
			if got := problems(t, err); !reflect.DeepEqual(got, []string{tc.want}) {
				t.Errorf("problems = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load("", env(map[string]string{
		"XDG_CONFIG_HOME":           filepath.Join(dir, "a"),
		"XDG_CONFIG_DIRS":           filepath.Join(dir, "b") + ":" + filepath.Join(dir, "c"),
		"HTTPAUTH_XMPP_SERVER_PORT": "0",
		"HTTPAUTH_LOG_LEVEL":        "loud",
	}), nil)
	want := []string{
		`xmpp_server_port (from HTTPAUTH_XMPP_SERVER_PORT): "0" is not allowed: a whole number from 1 to 65535`,
		`xmpp_jid: missing: the component's domain such as auth.example.org, or for client mode an account such as gateway@example.org/auth`,
		`xmpp_secret: missing: the secret shared with the XMPP server (or xmpp_secret_file, a file holding it)`,
		`http_port, https_port: both are -1 (off): turn at least one on (0 picks a free port)`,
		`log_level (from HTTPAUTH_LOG_LEVEL): "loud" is not allowed: "debug", "info", "warn" or "error"`,
		"no configuration file was found (looked for " +
			filepath.Join(dir, "a/http-auth/httpAuth.conf") + ", " +
			filepath.Join(dir, "b/http-auth/httpAuth.conf") + ", " +
			filepath.Join(dir, "c/http-auth/httpAuth.conf") + ")",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSecretNeverShown breaks configurations holding the secret in every
// way and checks that no error text or warning shows it.
func TestSecretNeverShown(t *testing.T) {
	tests := []struct {
		name    string
		content string
		env     map[string]string
	}{
		{"secret on a line without equals sign", "xmpp_jid=auth.example.org\n" + secret + "\n", nil},
		{"secret as a key", secret + "=x\n", nil},
		{"secret after a typo in the key", "xmpp_secert=" + secret + "\n", nil},
		{"secret set twice", "xmpp_secret=" + secret + "\nxmpp_secret=" + secret + "\n", nil},
		{"secret and secret file", render(map[string]string{"xmpp_secret_file": "/x"}), nil},
		{"secret in the environment with other problems", render(map[string]string{"xmpp_secret": "-", "http_port": "-"}),
			map[string]string{"HTTPAUTH_XMPP_SECRET": secret, "HTTPAUTH_XMPP_SECRET_FILE": secret}},
		{"API keys", render(map[string]string{"http_api_keys": secret + ",", "http_api_keys_file": "missing"}),
			map[string]string{"HTTPAUTH_XMPP_DEBUG": "maybe"}},
		{"API keys without a key", render(map[string]string{"http_api_keys": ","}),
			map[string]string{"HTTPAUTH_XMPP_DEBUG": "maybe"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, warnings, err := loadText(t, dir, tc.content, tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			all := err.Error() + "\n" + strings.Join(warnings, "\n")
			if strings.Contains(all, secret) {
				t.Errorf("the secret shows:\n%s", all)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes")
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "httpAuth.conf", render(map[string]string{
		"http_bind_address_ipv4": "0.0.0.0", "http_bind_address_ipv6": "[::1]",
		"xmpp_jid": "gateway@example.org/auth", "xmpp_verify_cert_validity": "false",
	}))
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, warnings, err := Load(p, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		p + " holds xmpp_secret and every user can read it (mode 0644): remove the others' read permission, or use xmpp_secret_file",
		"http_bind_address_ipv6 is ignored: http_bind_address_ipv4 is 0.0.0.0, which listens on every address, IPv4 and IPv6",
		"xmpp_verify_cert_validity is false: the XMPP server's certificate is not checked",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}

	sf := writeFile(t, dir, "secret", secret)
	if err := os.Chmod(sf, 0o604); err != nil {
		t.Fatal(err)
	}
	p = writeFile(t, dir, "httpAuth.conf", render(map[string]string{"xmpp_secret": "-", "xmpp_secret_file": "secret"}))
	_, warnings, err = Load(p, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"xmpp_secret_file " + sf + " can be read by every user (mode 0604): remove the others' read permission"}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"HOME=/root",
		"HTTPAUTH_XMPP_JID=auth.example.org",
		"HTTPAUTH_XMPP_SECERT=" + secret,
		"HTTPAUTH_XMPP_SECERT=" + secret,
		"httpauth_http_port=8080",
		"HTTPAUTH_=x",
		"HTTPAUTH",
		"XHTTPAUTH_FOO=1",
	})
	want := []string{
		"unknown environment variable HTTPAUTH_ is ignored",
		"unknown environment variable HTTPAUTH_XMPP_SECERT is ignored",
		"unknown environment variable httpauth_http_port is ignored (the name must be in capitals: HTTPAUTH_HTTP_PORT)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownEnv =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := UnknownEnv(nil); got != nil {
		t.Errorf("UnknownEnv(nil) = %q", got)
	}
}

func TestMasked(t *testing.T) {
	dir := t.TempDir()
	c, _, err := loadText(t, dir, render(map[string]string{"http_api_keys": "k1,k2"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Masked()
	if got, want := slices.Sorted(maps.Keys(m)), slices.Sorted(slices.Values(Keys())); !reflect.DeepEqual(got, want) {
		t.Errorf("Masked keys = %q, want %q", got, want)
	}
	for k, v := range m {
		if strings.Contains(v, secret) || strings.Contains(v, "k1") {
			t.Errorf("Masked[%q] = %q shows a secret", k, v)
		}
	}
	// With defaults everywhere else, Masked gives back the defaults of the
	// table.
	for _, k := range Keys() {
		def, ok := Default(k)
		if !ok {
			t.Fatalf("Default(%q) unknown", k)
		}
		want := def
		switch k {
		case "xmpp_jid":
			want = "auth.example.org"
		case "xmpp_secret", "http_api_keys":
			want = "***"
		case "http_port":
			want = "8080"
		case "https_cert_path", "https_key_path":
			want = filepath.Join(dir, def) // resolved against the file's folder
		}
		if m[k] != want {
			t.Errorf("Masked[%q] = %q, want %q", k, m[k], want)
		}
	}
	if _, ok := Default("nope"); ok {
		t.Error(`Default("nope") known`)
	}
}

// TestExampleFile keeps the example httpAuth.conf true: it loads, and it
// shows every key.
func TestExampleFile(t *testing.T) {
	const example = "../httpAuth.conf"
	c, _, err := Load(example, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.XMPPJID != "auth.example.org" || c.ClientMode() {
		t.Errorf("XMPPJID = %q", c.XMPPJID)
	}
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, k := range Keys() {
		def, _ := Default(k)
		found := false
		for _, l := range lines {
			if l == "#"+k+"="+def || strings.HasPrefix(l, k+"=") {
				found = true
			}
		}
		if !found {
			t.Errorf("example file lacks %q (commented out with its default %q, or set)", k, def)
		}
	}
}
