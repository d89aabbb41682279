package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// codecFormat is the name our codec is registered under in the viper
// instance's own codec registry. Viper 1.21 refuses, before it asks the
// registry, any format that is not in its package-level SupportedExts list,
// so a name of our own ("httpauthconf") would need that global changed.
// "properties" is on the list and viper 1.21 has no built-in codec for it,
// so registering ours under that name shadows nothing and touches no global.
const codecFormat = "properties"

// fileCodec reads and writes httpAuth.conf the way the 2017 gateway read it:
//
//   - one key=value per line; the value is everything after the FIRST '=',
//     with spaces and tabs around it trimmed, and otherwise kept as written:
//     no $VAR expansion, no quote removal, a '#' inside a value is part of it;
//   - a line whose first non-blank character is '#' is a comment; blank
//     lines are skipped; CRLF line ends and a UTF-8 byte order mark are fine;
//   - keys are case-insensitive (viper lower-cases them anyway) and made of
//     letters, digits and '_'.
//
// Every bad line is reported, by number only: a line is never echoed, as it
// may hold the secret. An unknown key (when known is set) or a key given
// twice is an error too; both name the key, which is safe once it has the
// shape of a key name.
//
// viper's own dotenv codec is not used because it cuts values at '#' and
// expands $VAR.
type fileCodec struct {
	known map[string]bool // nil: accept any well-formed key
	// sink, when set, collects the bad lines instead of failing the read,
	// so that they are reported together with every other problem.
	sink *parseError
}

// lineProblem is one bad line of the file.
type lineProblem struct {
	line int
	msg  string
}

// parseError lists every bad line of a file. Its text never holds a value.
type parseError []lineProblem

func (e parseError) Error() string {
	parts := make([]string, len(e))
	for i, p := range e {
		parts[i] = "line " + strconv.Itoa(p.line) + ": " + p.msg
	}
	return strings.Join(parts, "\n")
}

var _ viper.Codec = fileCodec{}

// Decode implements viper.Decoder. It stores every value as a string.
func (c fileCodec) Decode(b []byte, v map[string]any) error {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	var problems parseError
	seen := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		line = strings.Trim(line, " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			problems = append(problems, lineProblem{n, `no "=" on this line (key=value expected; the line is not shown, it may hold a secret)`})
			continue
		}
		key := strings.ToLower(strings.Trim(line[:eq], " \t"))
		value := strings.Trim(line[eq+1:], " \t\r")
		switch {
		case key == "":
			problems = append(problems, lineProblem{n, `no key before "="`})
			continue
		case !validKeyName(key):
			problems = append(problems, lineProblem{n, `the text before "=" is not a key name (letters, digits and "_"; not shown, it may hold a secret)`})
			continue
		case c.known != nil && !c.known[key]:
			problems = append(problems, lineProblem{n, fmt.Sprintf("unknown key %q", key)})
			continue
		}
		if first, dup := seen[key]; dup {
			problems = append(problems, lineProblem{n, fmt.Sprintf("key %q is already set on line %d", key, first)})
			continue
		}
		seen[key] = n
		v[key] = value
	}
	if c.sink != nil {
		*c.sink = append(*c.sink, problems...)
		return nil
	}
	if problems != nil {
		return problems
	}
	return nil
}

// Encode implements viper.Encoder: sorted key=value lines. It refuses what
// Decode would not read back the same.
func (fileCodec) Encode(v map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(v)) {
		s, ok := v[k].(string)
		if !ok {
			return nil, fmt.Errorf("config: key %q: only string values can be written", k)
		}
		if !validKeyName(k) || k != strings.ToLower(k) {
			return nil, fmt.Errorf("config: %q is not a key name", k)
		}
		if strings.Contains(s, "\n") || strings.Trim(s, " \t\r") != s {
			return nil, errors.New("config: key " + strconv.Quote(k) + ": the value cannot be written on one line as it is")
		}
		buf.WriteString(k + "=" + s + "\n")
	}
	return buf.Bytes(), nil
}

// validKeyName reports whether s has the shape of a key: ASCII letters,
// digits and '_'.
func validKeyName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// upper upper-cases an ASCII key.
func upper(s string) string { return strings.ToUpper(s) }

// newViper returns a viper instance that reads our file format, with the
// defaults of the key table set; the file's bad lines go to sink.
func newViper(known map[string]bool, sink *parseError) *viper.Viper {
	reg := viper.NewCodecRegistry()
	// RegisterCodec only fails on a nil registry; it never does here.
	_ = reg.RegisterCodec(codecFormat, fileCodec{known: known, sink: sink})
	v := viper.NewWithOptions(viper.WithCodecRegistry(reg))
	v.SetConfigType(codecFormat)
	for _, k := range keys {
		v.SetDefault(k.name, k.def)
	}
	return v
}
