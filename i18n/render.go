package i18n

import (
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"text/template/parse"

	"github.com/nicksnyder/go-i18n/v2/i18n/template"
)

// parser is the template parser the catalog hands to go-i18n's Localizer.
//
// Executing a text/template costs about 4 µs per language, mostly
// reflection and buffer growth, and bodies are built for every message
// sent. Yet a message is nearly always text and {{.URL}}, {{.Method}},
// {{.Code}}: such a template is kept as a list of pieces and rendered by
// joining them, with the output text/template would give. Any other
// template (conditions, functions, pipelines, ...) goes to go-i18n's own
// text/template parser, unchanged.
type parser struct {
	fallback template.TextParser
}

var _ template.Parser = parser{}

// Cacheable lets go-i18n parse each message once and keep the result.
func (parser) Cacheable() bool { return true }

func (p parser) Parse(src, leftDelim, rightDelim string) (template.ParsedTemplate, error) {
	if leftDelim == "" {
		leftDelim = "{{"
	}
	if rightDelim == "" {
		rightDelim = "}}"
	}
	// No function map: a template calling a function is not simple, fails
	// here, and the fallback parses it (or reports its error).
	trees, err := parse.Parse("", src, leftDelim, rightDelim)
	if err == nil {
		if pt, ok := flatten(trees); ok {
			return pt, nil
		}
	}
	return p.fallback.Parse(src, leftDelim, rightDelim)
}

// piece is literal text, or one of the fields when field is set.
type piece struct {
	text  string
	esc   string // text escaped for XML character data (escaped)
	field string
}

// pieces is a template made of text and plain field references.
type pieces struct {
	list    []piece
	textLen int
	// How often each field is shown, to size the output exactly.
	urls, methods, codes int
}

func flatten(trees map[string]*parse.Tree) (*pieces, bool) {
	tree := trees[""]
	if len(trees) != 1 || tree == nil || tree.Root == nil {
		return nil, false
	}
	pt := &pieces{}
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			pt.list = append(pt.list, piece{text: string(n.Text)})
			pt.textLen += len(n.Text)
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 || len(n.Pipe.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, ok := n.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil, false
			}
			switch f.Ident[0] {
			case "URL":
				pt.urls++
			case "Method":
				pt.methods++
			case "Code":
				pt.codes++
			default:
				// Let text/template report the unknown field.
				return nil, false
			}
			pt.list = append(pt.list, piece{field: f.Ident[0]})
		default:
			return nil, false
		}
	}
	return pt, true
}

var errData = errors.New("i18n: template data is not the message fields")

func (pt *pieces) Execute(data any) (string, error) {
	f, ok := data.(fields)
	if !ok {
		return "", errData
	}
	return pt.join(f, false), nil
}

// escaped returns a copy of pt whose literal text is also kept escaped
// for XML character data by encoding/xml's EscapeText, for joinEscaped.
func (pt *pieces) escaped() *pieces {
	c := *pt
	c.list = slices.Clone(pt.list)
	c.textLen = 0
	for i, p := range c.list {
		if p.field == "" {
			var b strings.Builder
			_ = xml.EscapeText(&b, []byte(p.text))
			c.list[i].esc = b.String()
			c.textLen += len(c.list[i].esc)
		}
	}
	return &c
}

// join renders pt with f; with esc, the literal text escaped (pt made by
// escaped) and f's values as given: escaped by the caller. EscapeText maps
// each character on its own, so escaping the pieces and joining them is
// escaping the joined text.
func (pt *pieces) join(f fields, esc bool) string {
	var b strings.Builder
	b.Grow(pt.textLen + pt.urls*len(f.URL) + pt.methods*len(f.Method) + pt.codes*len(f.Code))
	for _, p := range pt.list {
		switch p.field {
		case "":
			if esc {
				b.WriteString(p.esc)
			} else {
				b.WriteString(p.text)
			}
		case "URL":
			b.WriteString(f.URL)
		case "Method":
			b.WriteString(f.Method)
		case "Code":
			b.WriteString(f.Code)
		}
	}
	return b.String()
}
