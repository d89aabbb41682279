package i18n

import (
	"os"
	"strings"
	"testing"

	"github.com/nicksnyder/go-i18n/v2/i18n/template"
	"github.com/pelletier/go-toml/v2"
)

// render runs src through p with f, as go-i18n would.
func render(t *testing.T, p template.Parser, src string, f fields) (string, error) {
	t.Helper()
	pt, err := p.Parse(src, "", "")
	if err != nil {
		return "", err
	}
	return pt.Execute(f)
}

var tricky = fields{
	URL:    `https://a.example/{{.Code}}?q=<b>&x="%s"`,
	Method: "M-SEARCH",
	Code:   `{{"x"}}`,
}

// checkSame asserts that the catalog's parser renders src exactly as
// go-i18n's text/template parser does.
func checkSame(t *testing.T, src string, f fields) {
	t.Helper()
	want, wantErr := render(t, &template.TextParser{}, src, f)
	got, gotErr := render(t, parser{}, src, f)
	if (gotErr == nil) != (wantErr == nil) || got != want {
		t.Errorf("template %q:\n got %q, %v\nwant %q, %v", src, got, gotErr, want, wantErr)
	}
}

func TestParserMatchesTextTemplate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		fast bool // rendered by joining pieces
	}{
		{"text only", "hello <b> & %s", true},
		{"fields", "{{.URL}} {{.Method}} {{.Code}} {{.Code}}", true},
		{"spaces and trim markers", "a  {{- .URL -}}  b {{ .Code }}", true},
		{"comment", "a{{/* note */}}b{{.Code}}", true},
		{"other delimiters in text", "}} {{.Code}} {", true},
		{"empty", "", true},
		{"unknown field", "{{.Site}}", false},
		{"field of a field", "{{.URL.Host}}", false},
		{"dot", "{{.}}", false},
		{"function", `{{printf "%q" .URL}}`, false},
		{"pipeline", "{{.URL | len}}", false},
		{"condition", `{{if eq .Code "x"}}yes{{else}}{{.Code}}{{end}}`, false},
		{"variable", "{{$c := .Code}}{{$c}}", false},
		{"define", `{{define "t"}}{{.Code}}{{end}}{{template "t" .}}`, false},
		{"syntax error", "{{.Code", false},
		{"unknown function", "{{nope .Code}}", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkSame(t, tc.src, tricky)
			checkSame(t, tc.src, fields{})
			pt, err := parser{}.Parse(tc.src, "", "")
			_, fast := pt.(*pieces)
			if err == nil && fast != tc.fast {
				t.Errorf("fast path = %v, want %v", fast, tc.fast)
			}
		})
	}
}

// Every message of the real file takes the fast path and renders as
// text/template would.
func TestRealFileTakesFastPath(t *testing.T) {
	b, err := os.ReadFile("../messages.toml")
	if err != nil {
		t.Fatal(err)
	}
	langs, problems, err := build(source{name: "messages.toml", data: b})
	if err != nil || len(problems) > 0 || len(langs) == 0 {
		t.Fatalf("build: %v %v", err, problems)
	}
	var doc map[string]map[string]any
	if err := toml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for lang, msgs := range doc {
		for id, v := range msgs {
			m, err := message(id, v)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := parser{}.Parse(m.Other, "", "")
			if _, fast := pt.(*pieces); err != nil || !fast {
				t.Errorf("%s.%s does not take the fast path (%v)", lang, id, err)
			}
			checkSame(t, m.Other, tricky)
		}
	}
}

func TestPiecesRefuseOtherData(t *testing.T) {
	pt, err := parser{}.Parse("{{.Code}}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pt.Execute(map[string]string{"Code": "c"}); err == nil {
		t.Error("Execute(map) succeeded, want an error")
	}
}

// FuzzParser checks the fast path against text/template on any template.
// Templates are the operator's code: a {{range}} over a huge number runs as
// long as it says, so those are skipped.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"{{.URL}} {{.Method}} {{.Code}}",
		"a {{- .URL -}} b",
		`{{if .Code}}{{.Code}}{{end}}`,
		"{{/* c */}}{{.Site}}",
		"{{.Code",
		"}}{{",
	} {
		f.Add(s, "https://u.example/<x>", "GET", "c-1")
	}
	f.Fuzz(func(t *testing.T, src, url, method, code string) {
		if strings.Contains(src, "range") || strings.Contains(src, "template") {
			t.Skip()
		}
		checkSame(t, src, fields{URL: url, Method: method, Code: code})
	})
}
