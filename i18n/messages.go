package i18n

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
)

// The message ids the gateway uses. Every language must have them.
const (
	idConfirmBody    = "confirm_body"
	idConfirmSubject = "confirm_subject"
)

var requiredIDs = []string{idConfirmBody, idConfirmSubject}

// fields is the data every template is rendered with: {{.URL}},
// {{.Method}}, {{.Code}}. A struct rather than a map, so that a template
// naming any other field fails when it is loaded, not with "<no value>" in
// front of a person.
type fields struct {
	URL    string
	Method string
	Code   string
}

// probe is rendered at load time; a confirm body must show each field.
var probe = fields{
	URL:    "https://probe.invalid/url-3f9c",
	Method: "PROBEMETHOD",
	Code:   "probe-code-7d41",
}

// source is a messages file and the name its errors give it.
type source struct {
	name string
	data []byte
}

func (s source) errorf(format string, args ...any) error {
	return fmt.Errorf("i18n: %s: "+format, append([]any{s.name}, args...)...)
}

// build decodes src and renders every message once. It returns the
// languages sorted by tag and the problems found, every one of them; err is
// set alone when the file is not TOML at all.
func build(src source) (langs []lang, problems []error, err error) {
	var doc map[string]any
	if err := toml.Unmarshal(src.data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, nil, fmt.Errorf("i18n: %s:%d:%d: %w", src.name, row, col, err)
		}
		return nil, nil, src.errorf("%w", err)
	}

	// Keys are visited sorted so that problems come in a stable order.
	// Problems name tables and messages as the file spells them.
	keys := slices.Sorted(maps.Keys(doc))
	if len(keys) == 0 {
		return nil, nil, src.errorf("no language tables (want [en], [fr], ...)")
	}
	type table struct {
		key  string // as written in the file
		tag  language.Tag
		msgs map[string]*goi18n.Message
	}
	var tables []table
	seen := map[string]string{} // canonical tag -> key
	for _, key := range keys {
		raw, ok := doc[key].(map[string]any)
		if !ok {
			problems = append(problems, src.errorf("%q is not a language table such as [en]", key))
			continue
		}
		tag, err := language.Parse(key)
		if err != nil {
			problems = append(problems, src.errorf("[%s] is not a language tag (%v)", key, err))
			continue
		}
		if tag == language.Und {
			problems = append(problems, src.errorf("[%s] is not a language tag (undetermined)", key))
			continue
		}
		if prev, dup := seen[tag.String()]; dup {
			problems = append(problems, src.errorf("[%s] and [%s] are the same language (%s)", prev, key, tag))
			continue
		}
		seen[tag.String()] = key
		t := table{key: key, tag: tag, msgs: map[string]*goi18n.Message{}}
		for _, id := range slices.Sorted(maps.Keys(raw)) {
			m, err := message(id, raw[id])
			if err != nil {
				problems = append(problems, src.errorf("%s.%s: %v", key, id, err))
			}
			// A broken message still counts as present, so that it is
			// not reported a second time as missing.
			t.msgs[id] = m
		}
		tables = append(tables, t)
	}
	// Every language must have every id any language has, and the ids the
	// gateway uses.
	all := map[string]bool{}
	for _, id := range requiredIDs {
		all[id] = true
	}
	for _, t := range tables {
		for id := range t.msgs {
			all[id] = true
		}
	}
	var missing []string
	for _, t := range tables {
		for _, id := range slices.Sorted(maps.Keys(all)) {
			if _, ok := t.msgs[id]; !ok {
				missing = append(missing, t.key+"."+id)
			}
		}
	}

	for _, t := range tables {
		l, errs := compile(t.key, t.tag, t.msgs)
		for _, e := range errs {
			problems = append(problems, src.errorf("%v", e))
		}
		langs = append(langs, l)
	}
	if len(missing) > 0 {
		problems = append(problems, src.errorf("missing messages: %s", strings.Join(missing, ", ")))
	}
	slices.SortFunc(langs, func(a, b lang) int { return cmp.Compare(a.tag, b.tag) })
	return langs, problems, nil
}

// message turns one TOML value into a go-i18n message: a string, or a
// table with "other" (and "description", or any key go-i18n knows).
func message(id string, v any) (*goi18n.Message, error) {
	switch v.(type) {
	case string, map[string]any:
	default:
		return nil, fmt.Errorf("want a string or a table with \"other\", not a %s", tomlType(v))
	}
	m, err := goi18n.NewMessage(v)
	if err != nil {
		return nil, err
	}
	m.ID = id
	// Only the "other" plural form is ever rendered: no message counts.
	m.Other = strings.TrimSpace(m.Other)
	if m.Other == "" {
		return nil, errors.New("no text (want a non-empty string or \"other\")")
	}
	return m, nil
}

// compile adds one language to a bundle of its own and renders each of its
// messages with the probe data.
//
// One bundle per language, because a shared bundle picks a language with
// x/text's matcher, which may answer a close relative instead of the exact
// tag (asked for "en", it can pick "en-US" when both are there). Alone in
// its bundle, a language always resolves to itself.
func compile(key string, tag language.Tag, msgs map[string]*goi18n.Message) (lang, []error) {
	var problems []error
	bundle := goi18n.NewBundle(tag)
	var list []*goi18n.Message
	for _, id := range slices.Sorted(maps.Keys(msgs)) {
		if m := msgs[id]; m != nil {
			list = append(list, m)
		}
	}
	if err := bundle.AddMessages(tag, list...); err != nil {
		// go-i18n knows no plural rules for this language.
		return lang{tag: tag.String()}, []error{fmt.Errorf("[%s]: %v", key, err)}
	}
	l := lang{tag: tag.String(), loc: goi18n.NewLocalizer(bundle, tag.String())}
	for _, m := range list {
		// The same parser as Bodies: go-i18n keeps the first parse.
		s, err := l.loc.Localize(&goi18n.LocalizeConfig{MessageID: m.ID, TemplateData: probe, TemplateParser: parser{}})
		if err != nil {
			problems = append(problems, fmt.Errorf("%s.%s: %v", key, m.ID, err))
			continue
		}
		if m.ID != idConfirmBody {
			continue
		}
		// A body made of text and the three fields is also kept as
		// pieces, escaped once here for EscapedBodies; only if they render
		// exactly what go-i18n did.
		if pt, err := (parser{}).Parse(m.Other, m.LeftDelim, m.RightDelim); err == nil {
			if pt, ok := pt.(*pieces); ok && pt.join(probe, false) == s {
				l.body = pt.escaped()
			}
		}
		for _, f := range []struct{ name, value string }{
			{"{{.URL}}", probe.URL}, {"{{.Method}}", probe.Method}, {"{{.Code}}", probe.Code},
		} {
			if !strings.Contains(s, f.value) {
				problems = append(problems, fmt.Errorf("%s.%s does not show %s", key, m.ID, f.name))
			}
		}
	}
	return l, problems
}

func tomlType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	case []any:
		return "array"
	default:
		return "date or time"
	}
}
