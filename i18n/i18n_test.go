package i18n_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/xmpp-http-auth/http-auth/auth"
	"github.com/xmpp-http-auth/http-auth/i18n"
)

// realFile is the top-level messages.toml, which main embeds.
func realFile(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../messages.toml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustLoad(t testing.TB, builtin []byte, dir, def string) *i18n.Catalog {
	t.Helper()
	c, err := i18n.Load(builtin, dir, def)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func langsOf(texts []auth.Text) []string {
	out := make([]string, len(texts))
	for i, x := range texts {
		out[i] = x.Lang
	}
	return out
}

func TestRealFileLoads(t *testing.T) {
	langs, err := i18n.Languages(realFile(t), "")
	if err != nil {
		t.Fatalf("Languages: %v", err)
	}
	for _, want := range []string{"de", "en", "es", "fr"} {
		if !slices.Contains(langs, want) {
			t.Errorf("Languages() = %v, missing %q", langs, want)
		}
	}
	if !slices.IsSorted(langs) {
		t.Errorf("Languages() = %v, not sorted", langs)
	}
	c := mustLoad(t, realFile(t), "", "en")
	if got := c.DefaultLang(); got != "en" {
		t.Errorf("DefaultLang() = %q, want en", got)
	}
}

// TestRealFileHasEveryID reads the file on its own, without the package,
// so that a bug in the package's own check cannot hide a gap.
func TestRealFileHasEveryID(t *testing.T) {
	var doc map[string]map[string]any
	if err := toml.Unmarshal(realFile(t), &doc); err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{"confirm_body": true, "confirm_subject": true}
	for _, msgs := range doc {
		for id := range msgs {
			all[id] = true
		}
	}
	for _, lang := range slices.Sorted(maps.Keys(doc)) {
		for _, id := range slices.Sorted(maps.Keys(all)) {
			if _, ok := doc[lang][id]; !ok {
				t.Errorf("[%s] has no %s", lang, id)
			}
		}
	}
}

func TestBodiesEveryLanguage(t *testing.T) {
	langs, err := i18n.Languages(realFile(t), "")
	if err != nil {
		t.Fatal(err)
	}
	const (
		url    = "https://shop.example.com/login"
		method = "POST"
		code   = "Xk7-42.q_9"
	)
	for _, def := range langs {
		t.Run(def, func(t *testing.T) {
			c := mustLoad(t, realFile(t), "", def)
			for _, kind := range []struct {
				name  string
				texts []auth.Text
				want  []string
			}{
				{"Bodies", c.Bodies(url, method, code), []string{url, method, code}},
				{"Subjects", c.Subjects(url, method, code), nil},
			} {
				got := langsOf(kind.texts)
				if len(got) != len(langs) {
					t.Fatalf("%s langs = %v, want one per language of %v", kind.name, got, langs)
				}
				if got[0] != def {
					t.Errorf("%s langs = %v, want %q first", kind.name, got, def)
				}
				if !slices.IsSorted(got[1:]) {
					t.Errorf("%s langs = %v, want the others sorted", kind.name, got)
				}
				for _, x := range kind.texts {
					for _, w := range kind.want {
						if !strings.Contains(x.Body, w) {
							t.Errorf("%s [%s] = %q, does not show %q", kind.name, x.Lang, x.Body, w)
						}
					}
					if x.Body != strings.TrimSpace(x.Body) || strings.Contains(x.Body, "<no value>") || x.Body == "" {
						t.Errorf("%s [%s] = %q", kind.name, x.Lang, x.Body)
					}
				}
			}
		})
	}
}

// Bodies go into an XML <body> that the encoder escapes: go-i18n must not
// escape anything itself (it uses text/template, not html/template).
func TestBodiesAreNotEscaped(t *testing.T) {
	c := mustLoad(t, realFile(t), "", "en")
	url := `https://a.example/?q=<b>&x="y"&z='w'`
	for _, x := range c.Bodies(url, "GET", "c0de") {
		if !strings.Contains(x.Body, url) {
			t.Errorf("[%s] = %q, want the URL unchanged", x.Lang, x.Body)
		}
		if strings.Contains(x.Body, "&lt;") || strings.Contains(x.Body, "&amp;") || strings.Contains(x.Body, "&#34;") {
			t.Errorf("[%s] = %q, escaped", x.Lang, x.Body)
		}
	}
}

func TestDefaultLangCanonical(t *testing.T) {
	c := mustLoad(t, realFile(t), "", "FR")
	if got := c.DefaultLang(); got != "fr" {
		t.Errorf("DefaultLang() = %q, want fr", got)
	}
	if got := c.Bodies("u", "GET", "c")[0].Lang; got != "fr" {
		t.Errorf("first body in %q, want fr", got)
	}
}

// A table may be a plain string or have description and other; tags are
// sent in canonical form.
func TestMessageForms(t *testing.T) {
	file := `
[pt_br]
confirm_subject = "Código {{.Code}}"
[pt_br.confirm_body]
description = "the confirm body"
other = """
  {{.Method}} {{.URL}} {{.Code}}
"""
[nl]
confirm_subject.other = "Code {{.Code}}"
confirm_body = "{{.URL}}|{{.Method}}|{{.Code}}"
`
	c := mustLoad(t, []byte(file), "", "pt-BR")
	want := []auth.Text{{Lang: "pt-BR", Body: "GET u c"}, {Lang: "nl", Body: "u|GET|c"}}
	if got := c.Bodies("u", "GET", "c"); !slices.Equal(got, want) {
		t.Errorf("Bodies = %q, want %q", got, want)
	}
	want = []auth.Text{{Lang: "pt-BR", Body: "Código c"}, {Lang: "nl", Body: "Code c"}}
	if got := c.Subjects("u", "GET", "c"); !slices.Equal(got, want) {
		t.Errorf("Subjects = %q, want %q", got, want)
	}
}

// Languages that x/text's matcher treats as close relatives each keep
// their own texts.
func TestCloseLanguagesStayApart(t *testing.T) {
	var b strings.Builder
	for _, tag := range []string{"en-US", "en", "en-GB", "zh-Hant", "zh-TW", "zh"} {
		fmt.Fprintf(&b, "[%s]\nconfirm_subject = %q\nconfirm_body = \"%s {{.URL}} {{.Method}} {{.Code}}\"\n", tag, tag, tag)
	}
	c := mustLoad(t, []byte(b.String()), "", "en")
	for _, x := range c.Bodies("u", "m", "c") {
		if want := x.Lang + " u m c"; x.Body != want {
			t.Errorf("[%s] = %q, want %q", x.Lang, x.Body, want)
		}
	}
}

const small = `
[en]
confirm_subject = "code {{.Code}}"
confirm_body = "override {{.URL}} {{.Method}} {{.Code}}"
[nl]
confirm_subject = "code {{.Code}}"
confirm_body = "vervanging {{.URL}} {{.Method}} {{.Code}}"
`

func TestOverrideFile(t *testing.T) {
	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "messages.toml"), []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	builtinLangs, err := i18n.Languages(realFile(t), "")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		dir       string
		wantLangs []string
		wantFirst string
	}{
		{"no dir", "", builtinLangs, "A site asks you"},
		{"dir without file", t.TempDir(), builtinLangs, "A site asks you"},
		{"dir with file", withFile, []string{"en", "nl"}, "override u GET c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			langs, err := i18n.Languages(realFile(t), tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(langs, tc.wantLangs) {
				t.Errorf("Languages = %v, want %v", langs, tc.wantLangs)
			}
			c := mustLoad(t, realFile(t), tc.dir, "en")
			bodies := c.Bodies("u", "GET", "c")
			if !strings.HasPrefix(bodies[0].Body, tc.wantFirst) {
				t.Errorf("first body = %q, want it to start with %q", bodies[0].Body, tc.wantFirst)
			}
		})
	}

	// The override replaces the built-in file entirely: no French any more.
	_, err = i18n.Load(realFile(t), withFile, "fr")
	want := `i18n: xmpp_default_lang: "fr" is not a language of messages.toml (en, nl)`
	if err == nil || err.Error() != want {
		t.Errorf("Load(default fr) error = %v, want %s", err, want)
	}
}

func TestOverrideFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "messages.toml"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := i18n.Load(realFile(t), dir, "en")
	if err == nil || !strings.HasPrefix(err.Error(), "i18n: read "+filepath.Join(dir, "messages.toml")) {
		t.Errorf("Load error = %v, want a read error naming the file", err)
	}
}

func TestOverrideFileErrorsNameIt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messages.toml")
	if err := os.WriteFile(path, []byte("[en]\nconfirm_body = 'x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := i18n.Load(realFile(t), dir, "en")
	want := "i18n: " + path + ":2:18: toml: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load error = %v, want it to start with %q", err, want)
	}
}

const body = `confirm_body = "{{.URL}} {{.Method}} {{.Code}}"`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		def  string // "en" when empty, unless loadOnly
		// loadOnly: the problem is the default language, which Languages
		// does not look at.
		loadOnly bool
		want     string // the whole error text, one problem a line
	}{
		{
			name: "bad TOML",
			file: "[en]\nconfirm_subject = \"a\"\nconfirm_body = \"b\n",
			want: "i18n: built-in messages.toml:3:18: toml: basic strings cannot have new lines",
		},
		{
			name: "duplicate key",
			file: "[en]\nconfirm_subject = \"a\"\nconfirm_subject = \"b\"\n",
			want: "i18n: built-in messages.toml:3:1: toml: key confirm_subject is already defined",
		},
		{
			name: "empty file",
			file: "# nothing\n",
			want: "i18n: built-in messages.toml: no language tables (want [en], [fr], ...)",
		},
		{
			name: "missing ids, all listed",
			file: "[en]\nconfirm_subject = \"s\"\n" + body + "\nextra = \"e\"\n" +
				"[fr]\nconfirm_subject = \"s\"\n" +
				"[de]\n" + body + "\n",
			want: "i18n: built-in messages.toml: missing messages: de.confirm_subject, de.extra, fr.confirm_body, fr.extra",
		},
		{
			name: "ids the gateway needs are required",
			file: "[en]\nhello = \"hi\"\n",
			want: "i18n: built-in messages.toml: missing messages: en.confirm_body, en.confirm_subject",
		},
		{
			name:     "unknown default language",
			file:     "[en]\nconfirm_subject = \"s\"\n" + body + "\n[fr]\nconfirm_subject = \"s\"\n" + body + "\n",
			def:      "xx",
			loadOnly: true,
			want:     `i18n: xmpp_default_lang: "xx" is not a language of messages.toml (en, fr)`,
		},
		{
			name:     "empty default language",
			file:     "[en]\nconfirm_subject = \"s\"\n" + body + "\n",
			loadOnly: true,
			want:     `i18n: xmpp_default_lang: "" is not a language of messages.toml (en)`,
		},
		{
			name: "bad tags",
			file: "[xx]\nconfirm_subject = \"s\"\n" + body + "\n[und]\nconfirm_subject = \"s\"\n" + body +
				"\n[en]\nconfirm_subject = \"s\"\n" + body + "\n",
			want: "i18n: built-in messages.toml: [und] is not a language tag (undetermined)\n" +
				`i18n: built-in messages.toml: [xx] is not a language tag (language: subtag "xx" is well-formed but unknown)`,
		},
		{
			name: "same language twice",
			file: "[EN]\nconfirm_subject = \"s\"\n" + body + "\n[en]\nconfirm_subject = \"s\"\n" + body + "\n",
			want: "i18n: built-in messages.toml: [EN] and [en] are the same language (en)",
		},
		{
			name: "not a table",
			file: "title = \"x\"\n[en]\nconfirm_subject = \"s\"\n" + body + "\n",
			want: `i18n: built-in messages.toml: "title" is not a language table such as [en]`,
		},
		{
			name: "bad values",
			file: "[en]\nconfirm_subject = 3\nconfirm_body = { description = \"d\" }\n" +
				"[fr]\nconfirm_subject = \"  \"\nconfirm_body = [\"a\"]\n",
			want: "i18n: built-in messages.toml: en.confirm_body: no text (want a non-empty string or \"other\")\n" +
				"i18n: built-in messages.toml: en.confirm_subject: want a string or a table with \"other\", not a number\n" +
				"i18n: built-in messages.toml: fr.confirm_body: want a string or a table with \"other\", not a array\n" +
				"i18n: built-in messages.toml: fr.confirm_subject: no text (want a non-empty string or \"other\")",
		},
		{
			name: "templates that do not render",
			file: "[en]\nconfirm_subject = \"{{.Site}}\"\nconfirm_body = \"{{.Code\"\n",
			want: "i18n: built-in messages.toml: en.confirm_body: template: :1: unclosed action\n" +
				`i18n: built-in messages.toml: en.confirm_subject: template: :1:2: executing "" at <.Site>: can't evaluate field Site in type i18n.fields`,
		},
		{
			name: "body must show URL, method and code",
			file: "[en]\nconfirm_subject = \"s\"\nconfirm_body = \"{{.URL}}\"\n" +
				"[fr]\nconfirm_subject = \"s\"\nconfirm_body = \"{{.Method}} {{.URL}}\"\n",
			want: "i18n: built-in messages.toml: en.confirm_body does not show {{.Method}}\n" +
				"i18n: built-in messages.toml: en.confirm_body does not show {{.Code}}\n" +
				"i18n: built-in messages.toml: fr.confirm_body does not show {{.Code}}",
		},
		{
			name: "every problem at once",
			file: "[en]\nconfirm_subject = \"s\"\nconfirm_body = \"{{.URL}}\"\n" +
				"[nope-nope]\n[fr]\nconfirm_subject = \"s\"\n",
			def:      "de",
			loadOnly: true,
			want: "i18n: built-in messages.toml: [nope-nope] is not a language tag (language: tag is not well-formed)\n" +
				"i18n: built-in messages.toml: en.confirm_body does not show {{.Method}}\n" +
				"i18n: built-in messages.toml: en.confirm_body does not show {{.Code}}\n" +
				"i18n: built-in messages.toml: missing messages: fr.confirm_body\n" +
				`i18n: xmpp_default_lang: "de" is not a language of messages.toml (en, fr)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def := tc.def
			if def == "" && !tc.loadOnly {
				def = "en"
			}
			c, err := i18n.Load([]byte(tc.file), "", def)
			if err == nil {
				t.Fatalf("Load succeeded (%v), want error:\n%s", c.Bodies("u", "m", "c"), tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Load error:\n%s\nwant:\n%s", err, tc.want)
			}
			if tc.loadOnly {
				return
			}
			if _, err := i18n.Languages([]byte(tc.file), ""); err == nil || err.Error() != tc.want {
				t.Errorf("Languages error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestBodiesConcurrent(t *testing.T) {
	c := mustLoad(t, realFile(t), "", "de")
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 200 {
				code := fmt.Sprintf("g%d-i%d", g, i)
				for _, x := range c.Bodies("https://site.example/", "GET", code) {
					if !strings.Contains(x.Body, "("+code+")") {
						select {
						case errs <- fmt.Sprintf("[%s] = %q, want code %s", x.Lang, x.Body, code):
						default:
						}
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkBodies(b *testing.B) {
	c := mustLoad(b, realFile(b), "", "en")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = c.Bodies("https://shop.example.com/login", "POST", "Xk7-42")
		}
	})
}

// FuzzLoad feeds arbitrary files to Load: it must answer, never panic, and
// a catalog it accepts must render. Templates are the operator's code (a
// {{range}} over a huge number runs as long as it says), so inputs using
// range are skipped.
func FuzzLoad(f *testing.F) {
	f.Add(realFile(f))
	f.Add([]byte(small))
	f.Add([]byte("[en]\nconfirm_subject = 's'\n" + body + "\n[fr.confirm_body]\nother = '{{.Code}}'\n"))
	f.Add([]byte("[en]\nconfirm_body = \"{{if eq .Code \\\"x\\\"}}{{slice .URL 9}}{{end}}\"\n"))
	f.Add([]byte("[[en]]\nx = 1\n"))
	f.Add([]byte("x = { y = 1 }\n[en.a.b]\nc = 'd'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "range") {
			t.Skip()
		}
		c, err := i18n.Load(data, "", "en")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "i18n: ") {
				t.Errorf("error without prefix: %v", err)
			}
			return
		}
		langs, err := i18n.Languages(data, "")
		if err != nil {
			t.Fatalf("Load accepted, Languages refused: %v", err)
		}
		bodies := c.Bodies("https://u.example/", "GET", "code-1")
		if len(bodies) != len(langs) || bodies[0].Lang != "en" {
			t.Errorf("Bodies langs = %v, languages %v", langsOf(bodies), langs)
		}
	})
}
