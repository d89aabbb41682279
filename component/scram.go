package component

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/text/secure/precis"
)

// maxSCRAMIterations bounds the work a server can ask of us per login
// (servers use 4,096 to 100,000).
const maxSCRAMIterations = 1_000_000

// scram is the client side of one SCRAM exchange (RFC 5802; SHA-256:
// RFC 7677), without channel binding (gs2 header "n,,"). gosrc.io/xmpp
// only does PLAIN.
type scram struct {
	newHash  func() hash.Hash
	user     string
	password string
	nonce    string

	clientFirstBare string
	serverSig       []byte // the signature the server must show, once known
}

// gs2Header says: no channel binding, no authorization identity.
const gs2Header = "n,,"

// newSCRAM starts an exchange for mech (SCRAM-SHA-1 or SCRAM-SHA-256).
// nonce must be unguessable and printable without ',' (base64 of
// crypto/rand bytes).
func newSCRAM(mech, user, password, nonce string) *scram {
	h := sha1.New
	if mech == "SCRAM-SHA-256" {
		h = sha256.New
	}
	// RFC 5802 normalises the password with SASLprep; PRECIS
	// OpaqueString (RFC 8265) is its successor and agrees on what
	// passwords really hold. A password it refuses is used as written.
	if p, err := precis.OpaqueString.String(password); err == nil {
		password = p
	}
	return &scram{newHash: h, user: user, password: password, nonce: nonce}
}

// saslName escapes '=' and ',' in a user name (RFC 5802 5.1).
func saslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// clientFirst returns the client-first-message.
func (c *scram) clientFirst() []byte {
	c.clientFirstBare = "n=" + saslName(c.user) + ",r=" + c.nonce
	return []byte(gs2Header + c.clientFirstBare)
}

// scramAttrs splits a SCRAM message into its attributes, in order.
func scramAttrs(msg []byte) ([][2]string, error) {
	var out [][2]string
	for part := range strings.SplitSeq(string(msg), ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(k) != 1 {
			return nil, fmt.Errorf("malformed attribute %q", part)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// clientFinal reads the server-first-message and returns the
// client-final-message with our proof.
func (c *scram) clientFinal(serverFirst []byte) ([]byte, error) {
	attrs, err := scramAttrs(serverFirst)
	if err != nil {
		return nil, fmt.Errorf("server-first-message: %w", err)
	}
	if len(attrs) < 3 || attrs[0][0] == "m" {
		return nil, errors.New("server-first-message: want r, s and i (and no mandatory extension)")
	}
	var nonce, saltB64, iterText string
	for _, a := range attrs[:3] {
		switch a[0] {
		case "r":
			nonce = a[1]
		case "s":
			saltB64 = a[1]
		case "i":
			iterText = a[1]
		}
	}
	if len(nonce) <= len(c.nonce) || !strings.HasPrefix(nonce, c.nonce) {
		return nil, errors.New("the server's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil || len(salt) == 0 {
		return nil, errors.New("server-first-message: no valid salt")
	}
	iter, err := strconv.Atoi(iterText)
	if err != nil || iter < 1 || iter > maxSCRAMIterations {
		return nil, fmt.Errorf("server-first-message: iteration count %q (want 1 to %d)", iterText, maxSCRAMIterations)
	}

	salted, err := pbkdf2.Key(c.newHash, c.password, salt, iter, c.newHash().Size())
	if err != nil {
		return nil, err
	}
	clientKey := c.hmac(salted, "Client Key")
	h := c.newHash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2Header)) + ",r=" + nonce
	authMessage := c.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	proof := c.hmac(storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	c.serverSig = c.hmac(c.hmac(salted, "Server Key"), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message: the server must prove that it
// knows the password too, else it may be anyone.
func (c *scram) verify(serverFinal []byte) error {
	if c.serverSig == nil {
		return errors.New("server-final-message before the client's proof")
	}
	attrs, err := scramAttrs(bytes.TrimSpace(serverFinal))
	if err != nil || len(attrs) == 0 {
		return errors.New("the server did not prove it knows the password (no server signature)")
	}
	switch attrs[0][0] {
	case "e":
		return fmt.Errorf("the server refused: %s", attrs[0][1])
	case "v":
		got, err := base64.StdEncoding.DecodeString(attrs[0][1])
		if err != nil || !hmac.Equal(got, c.serverSig) {
			return errors.New("the server's signature is wrong: it does not know the password (or is not the server)")
		}
		return nil
	}
	return errors.New("the server did not prove it knows the password (no server signature)")
}

func (c *scram) hmac(key []byte, msg string) []byte {
	m := hmac.New(c.newHash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
