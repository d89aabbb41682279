package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// ValidationError is a configuration that cannot be used. It lists every
// problem found, each naming its key, the value seen (secrets shown as
// "***") and what is allowed.
type ValidationError struct {
	Problems []string
}

// Error returns the problems one per line, each line starting "config: ".
func (e *ValidationError) Error() string {
	return "config: " + strings.Join(e.Problems, "\nconfig: ")
}

// fileName is the name of the configuration file in the XDG folders.
const fileName = "http-auth/httpAuth.conf"

// source says where a value came from; a higher source wins.
type source int

const (
	fromDefault source = iota
	fromFile
	fromEnv
)

// rawValue is one key's value before checking, with where it came from.
type rawValue struct {
	text string
	src  source
}

// Load reads the configuration.
//
// path is the file given with --config ("" for none): it must exist. With
// no path, the first existing of $XDG_CONFIG_HOME/http-auth/httpAuth.conf
// ($HOME/.config when XDG_CONFIG_HOME is unset) and each
// $XDG_CONFIG_DIRS/http-auth/httpAuth.conf (/etc/xdg when unset) is read;
// finding none is fine as long as the environment gives the required keys.
//
// getenv is the only way Load reads the environment (nil: an empty one):
// every key K is overridden by a non-empty HTTPAUTH_K (K in capitals), and
// it gives the XDG variables. Load cannot list the environment, so it does
// not warn about unknown HTTPAUTH_ variables: main calls UnknownEnv with
// os.Environ() for that.
//
// langs, when not nil, lists the languages of the messages file that goes
// with a configuration in folder dir (Dir, "" without a file);
// xmpp_default_lang must be one of them.
//
// Relative paths (xmpp_secret_file, https_cert_path, https_key_path,
// http_api_keys_file) are relative to the file's folder, defaults included;
// those from the environment, to the working directory.
//
// A configuration that cannot be used returns a *ValidationError listing
// every problem. warnings are things worth logging that do not stop the
// gateway; they hold no secret.
func Load(path string, getenv func(string) string, langs func(dir string) ([]string, error)) (*Config, []string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	file, looked, err := findFile(path, getenv)
	if err != nil {
		return nil, nil, err
	}

	known := make(map[string]bool, len(keys))
	for _, k := range keys {
		known[k.name] = true
	}
	var bad parseError
	v := newViper(known, &bad)

	var fileMode fs.FileMode
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		if fi, err := os.Stat(file); err == nil {
			fileMode = fi.Mode()
		}
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			var pe parseError
			if !errors.As(err, &pe) {
				// Not ours: viper's own text, which never holds file content.
				return nil, nil, fmt.Errorf("config: %s: %w", file, err)
			}
			problems := make([]string, len(pe))
			for i, p := range pe {
				problems[i] = fmt.Sprintf("%s:%d: %s", file, p.line, p.msg)
			}
			return nil, nil, &ValidationError{Problems: problems}
		}
	}

	raw := make(map[string]rawValue, len(keys))
	for _, k := range keys {
		src := fromDefault
		if env := getenv(EnvName(k.name)); env != "" {
			v.Set(k.name, env)
			src = fromEnv
		} else if v.InConfig(k.name) {
			src = fromFile
		}
		raw[k.name] = rawValue{text: v.GetString(k.name), src: src}
	}

	c := &Config{File: file}
	if file != "" {
		c.Dir = filepath.Dir(file)
	}
	ch := &checker{raw: raw, dir: c.Dir}
	for _, p := range bad {
		ch.problems = append(ch.problems, fmt.Sprintf("%s:%d: %s", file, p.line, p.msg))
	}
	ch.fill(c, langs)

	var warnings []string
	if runtime.GOOS != "windows" {
		if raw[KeyXMPPSecret].src == fromFile && raw[KeyXMPPSecret].text != "" && fileMode&0o004 != 0 {
			warnings = append(warnings, fmt.Sprintf("%s holds xmpp_secret and every user can read it (mode %#o): remove the others' read permission, or use xmpp_secret_file", file, fileMode.Perm()))
		}
		if ch.secretFileMode&0o004 != 0 {
			warnings = append(warnings, fmt.Sprintf("xmpp_secret_file %s can be read by every user (mode %#o): remove the others' read permission", c.XMPPSecretFile, ch.secretFileMode.Perm()))
		}
	}
	if c.HTTPBindAddressIPv4 == "0.0.0.0" && raw[KeyHTTPBindAddressIPv6].src != fromDefault && c.HTTPBindAddressIPv6 != "" {
		warnings = append(warnings, "http_bind_address_ipv6 is ignored: http_bind_address_ipv4 is 0.0.0.0, which listens on every address, IPv4 and IPv6")
	}
	if c.ClientMode() && !c.XMPPVerifyCertValidity && len(ch.problems) == 0 {
		warnings = append(warnings, "xmpp_verify_cert_validity is false: the XMPP server's certificate is not checked")
	}

	if len(ch.problems) > 0 {
		problems := ch.problems
		if file == "" {
			problems = append(problems, "no configuration file was found (looked for "+strings.Join(looked, ", ")+")")
		}
		return nil, warnings, &ValidationError{Problems: problems}
	}
	return c, warnings, nil
}

// findFile returns the configuration file to read ("" for none) and the
// places looked at.
func findFile(path string, getenv func(string) string) (string, []string, error) {
	if path != "" {
		fi, err := os.Stat(path)
		if err != nil {
			return "", nil, fmt.Errorf("config: %w", err)
		}
		if fi.IsDir() {
			return "", nil, fmt.Errorf("config: %s is a folder, not a configuration file", path)
		}
		return path, nil, nil
	}
	var candidates []string
	home := getenv("XDG_CONFIG_HOME")
	if home == "" && getenv("HOME") != "" {
		home = filepath.Join(getenv("HOME"), ".config")
	}
	// The XDG base directory spec says relative paths are to be ignored.
	if filepath.IsAbs(home) {
		candidates = append(candidates, filepath.Join(home, fileName))
	}
	dirs := getenv("XDG_CONFIG_DIRS")
	if dirs == "" {
		dirs = "/etc/xdg"
	}
	for _, d := range strings.Split(dirs, ":") {
		if filepath.IsAbs(d) {
			candidates = append(candidates, filepath.Join(d, fileName))
		}
	}
	for _, f := range candidates {
		fi, err := os.Stat(f)
		switch {
		case err == nil && !fi.IsDir():
			return f, candidates, nil
		case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			continue
		default:
			// The file may well be there: better stop than silently read
			// another one.
			return "", candidates, fmt.Errorf("config: %w", err)
		}
	}
	return "", candidates, nil
}

// UnknownEnv returns a warning for each variable of environ ("NAME=value"
// entries, as os.Environ gives) that starts with HTTPAUTH_ (in any case) but
// names no configuration key: most likely a typo that would otherwise go
// unnoticed. Load cannot do this itself, as getenv cannot list variables;
// main calls UnknownEnv(os.Environ()) and logs the result. The warnings name
// the variables, never their values.
func UnknownEnv(environ []string) []string {
	names := make(map[string]bool, len(keys))
	for _, k := range keys {
		names[EnvName(k.name)] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if len(name) < len(EnvPrefix) || !strings.EqualFold(name[:len(EnvPrefix)], EnvPrefix) || names[name] {
			continue
		}
		w := "unknown environment variable " + name + " is ignored"
		if up := strings.ToUpper(name); names[up] {
			w += " (the name must be in capitals: " + up + ")"
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return out
}
