package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xmpp-http-auth/http-auth/auth"
)

// Keys of the tests: distinct lengths, so a comparison that stopped early
// or compared lengths would show.
const (
	keyOne   = "k1-0123456789abcdef0123456789abcdef"
	keyTwo   = "second-key"
	keyThree = "3rd+/=key with inner space"
)

var testKeys = []string{keyOne, keyTwo, keyThree}

const forbiddenBody = "forbidden: a valid API key is required (Authorization: Bearer KEY)\n"

// TestAPIKeys: with keys configured, only "Bearer KEY" of a configured key
// gets through; everything else is a 403 that asks nothing and logs no
// key.
func TestAPIKeys(t *testing.T) {
	tests := []struct {
		name   string
		auth   []string // Authorization header values; nil = none
		code   int
		caller string // the caller's name when it gets through
		reason string // logged for a 403
	}{
		{"missing", nil, 403, "", "missing"},
		{"empty", []string{""}, 403, "", "malformed"},
		{"basic", []string{"Basic x"}, 403, "", "malformed"},
		{"basic with the key", []string{"Basic " + keyOne}, 403, "", "malformed"},
		{"bearer alone", []string{"Bearer"}, 403, "", "malformed"},
		{"bearer and spaces", []string{"Bearer   "}, 403, "", "malformed"},
		{"key alone", []string{keyOne}, 403, "", "malformed"},
		{"other scheme", []string{"Token " + keyOne}, 403, "", "malformed"},
		{"scheme glued to key", []string{"Bearer" + keyOne}, 403, "", "malformed"},
		{"twice", []string{"Bearer " + keyOne, "Bearer " + keyOne}, 403, "", "malformed"},
		{"wrong key", []string{"Bearer wrong"}, 403, "", "unknown"},
		{"prefix of a key", []string{"Bearer " + keyOne[:len(keyOne)-1]}, 403, "", "unknown"},
		{"key and more", []string{"Bearer " + keyOne + "x"}, 403, "", "unknown"},
		{"key in another case", []string{"Bearer " + strings.ToUpper(keyTwo)}, 403, "", "unknown"},
		{"two keys in one", []string{"Bearer " + keyOne + "," + keyTwo}, 403, "", "unknown"},
		{"first key", []string{"Bearer " + keyOne}, 200, KeyID(keyOne), ""},
		{"second key", []string{"Bearer " + keyTwo}, 200, KeyID(keyTwo), ""},
		{"third key, inner space kept", []string{"Bearer " + keyThree}, 200, KeyID(keyThree), ""},
		{"scheme in any case", []string{"bEARER " + keyTwo}, 200, KeyID(keyTwo), ""},
		{"spaces around and between", []string{"  Bearer  " + keyTwo + " "}, 200, KeyID(keyTwo), ""},
		{"tab between", []string{"Bearer\t" + keyTwo}, 200, KeyID(keyTwo), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{}
			h, logs := newHandler(t, f, Options{APIKeys: testKeys})
			for _, asJSON := range []bool{false, true} {
				r := httptest.NewRequest("GET", "/auth?"+okParams+"&transaction_id=T7", nil)
				for _, v := range tc.auth {
					r.Header.Add("Authorization", v)
				}
				if asJSON {
					r.Header.Set("Accept", "application/json")
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tc.code {
					t.Fatalf("code %d, want %d: %s", w.Code, tc.code, w.Body)
				}
				if got := w.Header().Get("X-Transaction-Id"); got != "T7" {
					t.Errorf("X-Transaction-Id = %q", got)
				}
				if tc.code != 403 {
					continue
				}
				if asJSON {
					want := jsonReply{Status: "forbidden", TransactionID: "T7", Detail: "a valid API key is required (Authorization: Bearer KEY)"}
					if got := decodeJSON(t, w); got != want {
						t.Errorf("JSON = %+v, want %+v", got, want)
					}
				} else if w.Body.String() != forbiddenBody {
					t.Errorf("body = %q", w.Body.String())
				}
			}
			reqs := f.requests()
			if tc.code == 403 {
				if len(reqs) != 0 {
					t.Errorf("the confirmer was asked %d times", len(reqs))
				}
				if !strings.Contains(logs.String(), "reason="+tc.reason) {
					t.Errorf("log lacks reason=%s:\n%s", tc.reason, logs)
				}
			} else if len(reqs) != 2 || reqs[0].Caller != tc.caller {
				t.Errorf("confirmer got %+v, want caller %q", reqs, tc.caller)
			}
			assertNoKeyInLog(t, logs.String(), append(tc.auth, testKeys...)...)
		})
	}
}

// assertNoKeyInLog fails if any secret (a key, or a header value holding
// one) shows in the log. Values too short to mean anything are skipped.
func assertNoKeyInLog(t *testing.T, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, part := range strings.Fields(s) {
			if len(part) < 5 || strings.EqualFold(part, "bearer") {
				continue
			}
			if strings.Contains(log, part) {
				t.Errorf("the log shows %q:\n%s", part, log)
			}
		}
	}
}

// TestAPIKeyCheckedFirst: a caller without a key learns nothing about its
// parameters or the gateway's state: 403 before 400, 413, 429 and 523.
func TestAPIKeyCheckedFirst(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		body    string
		ready   error
		wantTxn string // "" = generated ("22222222")
	}{
		{"bad parameters", "GET", "/auth?jid=example.org&method=G+T", "", nil, ""},
		{"no parameters", "GET", "/auth", "", nil, ""},
		{"body too large", "POST", "/auth", okParams + "&pad=" + strings.Repeat("x", 300), nil, ""},
		{"not connected", "GET", "/auth?" + okParams, "", auth.ErrNotConnected, ""},
		{"transaction id of the query kept", "GET", "/auth?transaction_id=Q1&jid=bad", "", nil, "Q1"},
		{"transaction id of the body not read", "POST", "/auth", okParams + "&transaction_id=B1", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfirmer{readyErr: tc.ready}
			lim := NewLimiter(Limits{RequestsPerCallerPerSecond: 1}, newFakeClock().Now)
			h, _ := newHandler(t, f, Options{APIKeys: testKeys, MaxBodyBytes: 256, Limiter: lim})
			for range 3 { // past the caller's burst of 2: still 403
				w := do(t, h, tc.method, tc.target, tc.body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
				if w.Code != 403 || w.Body.String() != forbiddenBody {
					t.Fatalf("got %d %q", w.Code, w.Body.String())
				}
				want := tc.wantTxn
				if want == "" {
					want = "22222222"
				}
				if got := w.Header().Get("X-Transaction-Id"); got != want {
					t.Errorf("X-Transaction-Id = %q, want %q", got, want)
				}
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("the confirmer was asked %d times", n)
			}
		})
	}
	t.Run("405 stays 405", func(t *testing.T) {
		h, _ := newHandler(t, &fakeConfirmer{}, Options{APIKeys: testKeys})
		if w := do(t, h, "PUT", "/auth", "", nil); w.Code != 405 {
			t.Errorf("got %d", w.Code)
		}
	})
}

// TestNoAPIKeys: with no keys configured callers need none, and a header
// sent anyway is ignored; the caller is named by its address.
func TestNoAPIKeys(t *testing.T) {
	for _, auth := range []string{"", "Bearer whatever", "Basic x"} {
		t.Run(auth, func(t *testing.T) {
			f := &fakeConfirmer{}
			h, _ := newHandler(t, f, Options{})
			w := do(t, h, "GET", "/auth?"+okParams, "", map[string]string{"Authorization": auth})
			if w.Code != 200 {
				t.Fatalf("got %d %q", w.Code, w.Body.String())
			}
			if got := f.requests()[0].Caller; got != "192.0.2.1" {
				t.Errorf("caller = %q", got)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	sum := sha256.Sum256([]byte("secret"))
	if got, want := KeyID("secret"), "key:"+hex.EncodeToString(sum[:])[:8]; got != want || want != "key:2bb80d53" {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	if KeyID(keyOne) == KeyID(keyTwo) {
		t.Error("two keys share an id")
	}
	if newAPIKeys(nil) != nil || newAPIKeys([]string{}) != nil {
		t.Error("no keys must mean no check")
	}
}

// FuzzAPIKeyCheck: no Authorization value panics the check, and one is
// accepted only when it is "Bearer" and a configured key, give or take
// the documented spaces.
func FuzzAPIKeyCheck(f *testing.F) {
	for _, s := range []string{"", "Bearer " + keyOne, "bearer  " + keyTwo + " ", "Bearer\t" + keyThree,
		"Basic x", "Bearer", "Bearer \x00", "Bearer " + keyOne + "\x00", "Bearer  \t ", "\tBEARER " + keyTwo} {
		f.Add(s)
	}
	k := newAPIKeys(testKeys)
	f.Fuzz(func(t *testing.T, v string) {
		caller, reason := k.check([]string{v})
		if (caller == "") == (reason == "") {
			t.Fatalf("%q: caller %q, reason %q", v, caller, reason)
		}
		if caller == "" {
			return
		}
		rest := strings.TrimLeft(v, " \t")
		if len(rest) < 7 || !strings.EqualFold(rest[:6], "bearer") {
			t.Fatalf("%q accepted without the Bearer scheme", v)
		}
		token := strings.Trim(rest[6:], " \t")
		for _, key := range testKeys {
			if token == key && caller == KeyID(key) {
				return
			}
		}
		t.Fatalf("%q accepted as %s", v, caller)
	})
}
