package i18n_test

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/xmpp-http-auth/http-auth/i18n"
)

// mixedFile has a body made of text and fields (escaped once at load) and
// one with a condition (rendered, then escaped), with text that needs
// escaping in both.
const mixedFile = `
[en]
confirm_subject = "s"
confirm_body = "Site <{{.URL}}> & \"{{.Method}}\"\n\tcode '{{.Code}}' \u00e9\r"
[fr]
confirm_subject = "s"
confirm_body = "{{if .URL}}<{{.URL}}>{{end}} & {{.Method}} {{.Code}}"
`

func escapeText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// EscapedBodies is Bodies escaped by encoding/xml, whatever the values.
func FuzzEscapedBodies(f *testing.F) {
	f.Add("https://example.org/a?b=1&c='\"<x>", "GET", "CODE")
	f.Add("\xff\x00\x1f\uFFFE", "]]>", "\xe2\x82")
	f.Add("", "", "")
	catalogs := []*i18n.Catalog{mustLoad(f, realFile(f), "", "en"), mustLoad(f, []byte(mixedFile), "", "en")}
	f.Fuzz(func(t *testing.T, url, method, code string) {
		for _, c := range catalogs {
			plain := c.Bodies(url, method, code)
			esc := c.EscapedBodies(url, method, code)
			if len(plain) != len(esc) {
				t.Fatalf("%d bodies, %d escaped", len(plain), len(esc))
			}
			for i := range plain {
				if esc[i].Lang != plain[i].Lang || esc[i].Body != escapeText(plain[i].Body) {
					t.Fatalf("%s: escaped %q\nwant %q", plain[i].Lang, esc[i].Body, escapeText(plain[i].Body))
				}
			}
		}
	})
}
