package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// errForbidden is a request without a valid API key: a 403.
var errForbidden = errors.New("httpapi: forbidden: no valid API key")

// apiKeys checks the callers' "Authorization: Bearer KEY" against the
// configured keys. Only SHA-256 digests of the keys are kept. Safe for
// concurrent use (it never changes).
type apiKeys struct {
	digests [][sha256.Size]byte
}

// newAPIKeys returns the checker for keys, nil when there are none
// (callers then need no key).
func newAPIKeys(keys []string) *apiKeys {
	if len(keys) == 0 {
		return nil
	}
	k := &apiKeys{}
	for _, key := range keys {
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k
}

// Reasons a request has no valid key, for the log.
const (
	keyMissing   = "missing"   // no Authorization header
	keyMalformed = "malformed" // not exactly one "Bearer KEY"
	keyUnknown   = "unknown"   // a key that is not configured
)

// check returns the caller's name (KeyID of its key) when the
// Authorization header values carry a configured key, else a reason.
//
// The header must be present once, as "Bearer KEY": the scheme in any
// case, one or more spaces, the key as configured (case-sensitive);
// spaces and tabs around the value are ignored, as HTTP ignores them.
// The given key is hashed and its digest compared with every stored
// digest, all of them, in constant time: neither the time taken nor the
// answer tells which key came close or how long a key is.
func (k *apiKeys) check(values []string) (caller, reason string) {
	if len(values) == 0 {
		return "", keyMissing
	}
	if len(values) > 1 {
		return "", keyMalformed
	}
	v := strings.Trim(values[0], " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], "Bearer") {
		return "", keyMalformed
	}
	token := strings.TrimLeft(v[i:], " \t")
	if token == "" {
		return "", keyMalformed
	}
	sum := sha256.Sum256([]byte(token))
	found := 0
	for _, d := range k.digests {
		found |= subtle.ConstantTimeCompare(sum[:], d[:])
	}
	if found != 1 {
		return "", keyUnknown
	}
	return keyIDOf(sum), ""
}

// KeyID returns the name under which a caller using key is logged and
// rate limited: "key:" and the first 8 hex digits of the key's SHA-256
// (printf %s KEY | sha256sum | cut -c1-8). It does not reveal the key.
func KeyID(key string) string { return keyIDOf(sha256.Sum256([]byte(key))) }

func keyIDOf(sum [sha256.Size]byte) string { return "key:" + hex.EncodeToString(sum[:4]) }
