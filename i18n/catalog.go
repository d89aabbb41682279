// Package i18n holds the texts the gateway sends to people: the
// human-readable <body> of a XEP-0070 confirm message (section 4.2 of
// XEP-0070, HTTP authentication over XMPP), in every language of
// messages.toml, rendered with nicksnyder/go-i18n.
//
// messages.toml holds every language in one file, one top-level table per
// language tag. go-i18n reads one language per file and takes the language
// from the file name, so it would mislabel such a file: this package decodes
// the tables itself and adds each language with Bundle.AddMessages.
package i18n

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// FileName is the name of the messages file, built in or next to the
// configuration file.
const FileName = "messages.toml"

// Catalog renders the gateway's messages in every language of a messages
// file. A Catalog is immutable once loaded: all its methods are safe for
// concurrent use.
type Catalog struct {
	defaultLang string
	// langs is in the order bodies are sent: the default language first,
	// then the others sorted by tag.
	langs []lang
}

// lang is one language of a Catalog, ready to render.
type lang struct {
	tag string // canonical BCP 47 form, as sent in xml:lang
	loc *goi18n.Localizer
	// body is the confirm body as pieces with their text escaped, when it
	// is made of text and fields only; nil otherwise.
	body *pieces
}

// Load reads the messages and checks them. A messages.toml in dir (when dir
// is not empty) replaces builtin entirely; otherwise builtin is used.
//
// Every problem found is reported at once: TOML syntax (file name, line and
// column), a table name that is not a language tag, a language missing a
// message another language has, a template that does not render or a
// confirm body that does not show the URL, the method and the code, and
// defaultLang not being one of the languages. defaultLang is compared in
// canonical BCP 47 form ("EN" and "en" are the same language).
func Load(builtin []byte, dir string, defaultLang string) (*Catalog, error) {
	langs, problems, err := read(builtin, dir)
	if err != nil {
		return nil, err
	}
	def, ok := findDefault(langs, defaultLang)
	if !ok && len(langs) > 0 {
		problems = append(problems, fmt.Errorf(
			"i18n: xmpp_default_lang: %q is not a language of %s (%s)",
			defaultLang, FileName, strings.Join(tags(langs), ", ")))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	ordered := make([]lang, 0, len(langs))
	ordered = append(ordered, langs[def])
	ordered = append(ordered, langs[:def]...)
	ordered = append(ordered, langs[def+1:]...)
	return &Catalog{defaultLang: langs[def].tag, langs: ordered}, nil
}

// Languages returns the language tags of the messages Load would use, in
// canonical BCP 47 form, sorted. It reports the same problems with the file
// as Load, apart from the default language.
func Languages(builtin []byte, dir string) ([]string, error) {
	langs, problems, err := read(builtin, dir)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return tags(langs), nil
}

// read picks the messages file (pick) and builds its languages (build).
func read(builtin []byte, dir string) ([]lang, []error, error) {
	src, err := pick(builtin, dir)
	if err != nil {
		return nil, nil, err
	}
	return build(src)
}

// DefaultLang returns the tag of the default language, in canonical form:
// the first body of every message is in this language.
func (c *Catalog) DefaultLang() string { return c.defaultLang }

// Bodies returns the body of a confirm message asking about method on url
// with the given code, once per language: the default language first, then
// the others sorted by tag. The texts are plain text, not escaped.
func (c *Catalog) Bodies(url, method, code string) []auth.Text {
	return c.render(idConfirmBody, fields{URL: url, Method: method, Code: code})
}

// EscapedBodies returns what Bodies returns, each body escaped for XML
// character data by encoding/xml's EscapeText, as the component sends it.
// A body made of text and fields is not rendered and then escaped: its
// text was escaped once at load, and the three values are escaped once for
// every language, which spares escaping the same text for every message.
func (c *Catalog) EscapedBodies(url, method, code string) []auth.Text {
	f := fields{URL: url, Method: method, Code: code}
	var ef fields
	escaped := false
	out := make([]auth.Text, len(c.langs))
	for i, l := range c.langs {
		if l.body == nil {
			out[i] = auth.Text{Lang: l.tag, Body: escape(c.renderOne(l, idConfirmBody, f))}
			continue
		}
		if !escaped {
			ef = fields{URL: escape(url), Method: escape(method), Code: escape(code)}
			escaped = true
		}
		out[i] = auth.Text{Lang: l.tag, Body: l.body.join(ef, true)}
	}
	return out
}

// escape is s escaped for XML character data by encoding/xml.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Subjects returns the subject of a confirm message, once per language, in
// the same order as Bodies.
func (c *Catalog) Subjects(url, method, code string) []auth.Text {
	return c.render(idConfirmSubject, fields{URL: url, Method: method, Code: code})
}

func (c *Catalog) render(id string, f fields) []auth.Text {
	out := make([]auth.Text, len(c.langs))
	for i, l := range c.langs {
		out[i] = auth.Text{Lang: l.tag, Body: c.renderOne(l, id, f)}
	}
	return out
}

func (c *Catalog) renderOne(l lang, id string, f fields) string {
	s, err := l.loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: f, TemplateParser: parser{}})
	if err != nil {
		// Every template rendered at load time; one can still fail on
		// particular values if it branches on them. The person must still
		// see what is asked and the code, in any language.
		s = f.URL + "\n" + f.Method + "\n" + f.Code
	}
	return s
}

// pick returns the messages file to use: dir's messages.toml when there is
// one, else the built-in bytes.
func pick(builtin []byte, dir string) (source, error) {
	if dir != "" {
		path := filepath.Join(dir, FileName)
		data, err := os.ReadFile(path)
		if err == nil {
			return source{name: path, data: data}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return source{}, fmt.Errorf("i18n: %w", err)
		}
	}
	return source{name: "built-in " + FileName, data: builtin}, nil
}

// findDefault returns the index in langs of the language named by want.
func findDefault(langs []lang, want string) (int, bool) {
	tag, err := language.Parse(want)
	if err != nil {
		return 0, false
	}
	for i, l := range langs {
		if l.tag == tag.String() {
			return i, true
		}
	}
	return 0, false
}

func tags(langs []lang) []string {
	out := make([]string, len(langs))
	for i, l := range langs {
		out[i] = l.tag
	}
	return out
}
