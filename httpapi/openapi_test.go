package httpapi

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// The OpenAPI document (docs/openapi.yaml), read with just what these
// tests compare.
type oaDoc struct {
	OpenAPI    string                            `yaml:"openapi"`
	Paths      map[string]map[string]oaOperation `yaml:"paths"`
	Components struct {
		Parameters map[string]oaParam    `yaml:"parameters"`
		Responses  map[string]oaResponse `yaml:"responses"`
		Schemas    struct {
			Reply struct {
				Properties struct {
					Status struct {
						Enum []string `yaml:"enum"`
					} `yaml:"status"`
				} `yaml:"properties"`
			} `yaml:"Reply"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type oaOperation struct {
	Parameters []oaParam             `yaml:"parameters"`
	Responses  map[string]oaResponse `yaml:"responses"`
	Body       map[string]any        `yaml:"requestBody"`
}

type oaParam struct {
	Ref      string `yaml:"$ref"`
	Name     string `yaml:"name"`
	In       string `yaml:"in"`
	Required bool   `yaml:"required"`
}

type oaResponse struct {
	Ref         string                    `yaml:"$ref"`
	Description string                    `yaml:"description"`
	Headers     map[string]map[string]any `yaml:"headers"`
	Content     map[string]any            `yaml:"content"`
}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d oaDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		t.Fatalf("openapi: %q, want 3.x", d.OpenAPI)
	}
	return &d
}

func (d *oaDoc) response(t *testing.T, r oaResponse) oaResponse {
	t.Helper()
	if r.Ref == "" {
		return r
	}
	name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
	res, found := d.Components.Responses[name]
	if !ok || !found {
		t.Fatalf("unresolved $ref %q", r.Ref)
	}
	return res
}

func (d *oaDoc) param(t *testing.T, p oaParam) oaParam {
	t.Helper()
	if p.Ref == "" {
		return p
	}
	name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
	res, found := d.Components.Parameters[name]
	if !ok || !found {
		t.Fatalf("unresolved $ref %q", p.Ref)
	}
	return res
}

// methods returns the documented methods of path, in capitals, sorted.
func (d *oaDoc) methods(path string) []string {
	var ms []string
	for m := range d.Paths[path] {
		ms = append(ms, strings.ToUpper(m))
	}
	sort.Strings(ms)
	return ms
}

// openAPIOptions turn every route of the API on, as main does.
func openAPIOptions() Options {
	return Options{Confirmer: &fakeConfirmer{}, Metrics: NewMetrics(MetricsOptions{Version: "test"}), IDs: constReader(0)}
}

// TestOpenAPIRoutes: every path and method the handler serves is
// documented, and every documented one is served: a request with it is
// neither a 404 nor a 405, and its code is documented. Every other method
// is a 405 whose Allow header lists the documented methods.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	opts := openAPIOptions()
	routes := newServer(opts).routes()
	h := New(opts)

	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.path] = true
		t.Run(rt.path, func(t *testing.T) {
			if _, ok := d.Paths[rt.path]; !ok {
				t.Fatalf("%s is served but not documented", rt.path)
			}
			want := slices.Sorted(slices.Values(rt.methods))
			if got := d.methods(rt.path); !slices.Equal(got, want) {
				t.Errorf("documented methods %v, served %v", got, want)
			}
			for _, m := range rt.methods {
				w := do(t, h, m, rt.path, "", nil)
				if w.Code == 404 || w.Code == 405 {
					t.Errorf("%s %s: %d", m, rt.path, w.Code)
				}
				if _, ok := d.Paths[rt.path][strings.ToLower(m)].Responses[strconv.Itoa(w.Code)]; !ok {
					t.Errorf("%s %s answered %d, which is not documented", m, rt.path, w.Code)
				}
			}
			w := do(t, h, "PATCH", rt.path, "", nil)
			if w.Code != 405 || w.Header().Get("Allow") != strings.Join(rt.methods, ", ") {
				t.Errorf("PATCH %s: %d Allow=%q", rt.path, w.Code, w.Header().Get("Allow"))
			}
			for m, op := range d.Paths[rt.path] {
				r, ok := op.Responses["405"]
				if !ok {
					t.Errorf("%s %s: 405 not documented", m, rt.path)
					continue
				}
				if _, ok := d.response(t, r).Headers["Allow"]; !ok {
					t.Errorf("%s %s: the 405 does not document Allow", m, rt.path)
				}
			}
		})
	}
	for p := range d.Paths {
		if !served[p] {
			t.Errorf("%s is documented but not served", p)
		}
		if w := do(t, h, "GET", p, "", nil); w.Code == 404 {
			t.Errorf("GET %s: 404", p)
		}
	}
	// /readyz's 503 comes from the Confirmer: documented too.
	opts.Confirmer = &fakeConfirmer{readyErr: auth.ErrNotConnected}
	if w := do(t, New(opts), "GET", "/readyz", "", nil); w.Code != 503 {
		t.Fatalf("not ready: %d", w.Code)
	} else if _, ok := d.Paths["/readyz"]["get"].Responses["503"]; !ok {
		t.Error("/readyz: 503 not documented")
	}
}

// statusOfCases is one error of every kind statusOf tells apart, named as
// respond.go names it in statusOf's errors.Is, errors.As and errors.AsType
// calls ("nil" and "default" for the first and last cases).
// TestStatusOfCasesAreAll keeps it complete, so a new case in statusOf
// cannot miss the document.
var statusOfCases = map[string]error{
	"nil":                  nil,
	"*notReadyError":       &notReadyError{err: auth.ErrNotConnected},
	"*paramError":          badParam(paramJID, "x"),
	"errForbidden":         errForbidden,
	"*LimitError":          &LimitError{Limit: LimitNamePendingTotal, Detail: "x", RetryAfter: time.Second},
	"errTooLarge":          errTooLarge,
	"*methodError":         &methodError{allow: []string{http.MethodGet, http.MethodPost}},
	"errNotFound":          errNotFound,
	"auth.ErrCanceled":     auth.ErrCanceled,
	"context.Canceled":     context.Canceled,
	"auth.ErrDenied":       auth.ErrDenied,
	"auth.ErrTimeout":      auth.ErrTimeout,
	"auth.ErrConflict":     auth.ErrConflict,
	"auth.ErrNotConnected": auth.ErrNotConnected,
	"auth.ErrShuttingDown": auth.ErrShuttingDown,
	"auth.ErrUnreachable":  auth.ErrUnreachable,
	"default":              errors.New("unexpected"),
}

// notOnAuth are the statusOf cases /auth never answers: /readyz's 503,
// the 404 of other paths, and the 499 of a caller that hung up (logged,
// never sent).
var notOnAuth = []string{"*notReadyError", "errNotFound", "auth.ErrCanceled", "context.Canceled"}

// TestStatusOfCasesAreAll reads statusOf in respond.go and checks that
// statusOfCases has every error it branches on.
func TestStatusOfCasesAreAll(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "respond.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fn *ast.FuncDecl
	for _, decl := range f.Decls {
		if fd, ok := decl.(*ast.FuncDecl); ok && fd.Name.Name == "statusOf" {
			fn = fd
		}
	}
	if fn == nil {
		t.Fatal("no statusOf in respond.go")
	}
	varTypes := map[string]string{} // var pe *paramError
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Type != nil {
			for _, id := range vs.Names {
				varTypes[id.Name] = types.ExprString(vs.Type)
			}
		}
		return true
	})
	var found []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		// errors.AsType[*T](err)
		if ix, ok := call.Fun.(*ast.IndexExpr); ok && types.ExprString(ix.X) == "errors.AsType" && len(call.Args) == 1 {
			found = append(found, types.ExprString(ix.Index))
			return true
		}
		if len(call.Args) != 2 {
			return true
		}
		switch types.ExprString(call.Fun) {
		case "errors.Is":
			found = append(found, types.ExprString(call.Args[1]))
		case "errors.As":
			if u, ok := call.Args[1].(*ast.UnaryExpr); ok {
				if id, ok := u.X.(*ast.Ident); ok {
					found = append(found, varTypes[id.Name])
				}
			}
		}
		return true
	})
	if len(found) < 10 {
		t.Fatalf("found only %v in statusOf: has it changed shape?", found)
	}
	for _, name := range found {
		if _, ok := statusOfCases[name]; !ok {
			t.Errorf("statusOf branches on %s, missing from statusOfCases", name)
		}
	}
}

// TestOpenAPIAuthStatusCodes: every status code /auth can answer, taken
// from statusOf, is documented for /auth with its headers and both body
// types, and /auth documents no code it cannot answer (but net/http's own
// 431). Every status word is in the JSON schema.
func TestOpenAPIAuthStatusCodes(t *testing.T) {
	d := loadOpenAPI(t)
	documented := map[string]oaResponse{}
	for _, op := range d.Paths["/auth"] {
		for code, r := range op.Responses {
			documented[code] = d.response(t, r)
		}
	}
	producible := map[string]outcome{}
	for name, err := range statusOfCases {
		o := statusOf(err)
		if o.status != "canceled" && !slices.Contains(d.Components.Schemas.Reply.Properties.Status.Enum, o.status) {
			t.Errorf("%s: status %q is not in the Reply schema's enum", name, o.status)
		}
		if slices.Contains(notOnAuth, name) {
			continue
		}
		code := strconv.Itoa(o.code)
		producible[code] = o
		r, ok := documented[code]
		if !ok {
			t.Errorf("%s: /auth answers %s (%s), which is not documented", name, code, o.status)
			continue
		}
		for _, ct := range []string{"text/plain", "application/json"} {
			if _, ok := r.Content[ct]; !ok {
				t.Errorf("/auth %s: no %s body documented", code, ct)
			}
		}
		wantHeaders := []string{"X-Transaction-Id"}
		if o.retryAfter > 0 {
			wantHeaders = append(wantHeaders, "Retry-After")
		}
		if o.allow != "" {
			wantHeaders = []string{"Allow"} // the parameters are not read
		}
		for _, h := range wantHeaders {
			if _, ok := r.Headers[h]; !ok {
				t.Errorf("/auth %s: header %s not documented", code, h)
			}
		}
	}
	for code := range documented {
		if _, ok := producible[code]; !ok && code != "431" {
			t.Errorf("/auth documents %s, which statusOf never gives", code)
		}
	}
}

// TestOpenAPIAuthParameters: /auth documents exactly the parameters the
// handler reads, with the right ones required.
func TestOpenAPIAuthParameters(t *testing.T) {
	d := loadOpenAPI(t)
	required := map[string]bool{paramJID: true, paramMethod: true}
	for m, op := range d.Paths["/auth"] {
		var names []string
		for _, p := range op.Parameters {
			p = d.param(t, p)
			names = append(names, p.Name)
			if p.In != "query" {
				t.Errorf("%s /auth %s: in %q, want query", m, p.Name, p.In)
			}
			if p.Required != required[p.Name] {
				t.Errorf("%s /auth %s: required %v", m, p.Name, p.Required)
			}
		}
		if !slices.Equal(names, knownParams[:]) {
			t.Errorf("%s /auth documents %v, the handler reads %v", m, names, knownParams)
		}
	}
	if d.Paths["/auth"]["post"].Body == nil {
		t.Error("POST /auth: no requestBody documented")
	}
}
