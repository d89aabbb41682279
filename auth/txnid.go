package auth

import (
	"crypto/rand"
	"fmt"
	"io"
)

// TxnAlphabet holds the characters of generated transaction ids: digits and
// capital letters without 0, 1, I and O, which are easily confused when
// read aloud or copied by hand. 32 characters, 5 bits each.
const TxnAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// TxnLength is the length of a generated transaction id: 8 characters,
// 40 bits, short enough to read aloud.
const TxnLength = 8

// MaxTxnLength is the longest transaction id a caller may give.
const MaxTxnLength = 64

// NewTransactionID returns a random id of TxnLength characters of
// TxnAlphabet, read from r (crypto/rand.Reader when r is nil).
func NewTransactionID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [TxnLength]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("auth: reading random bytes: %w", err)
	}
	for i := range b {
		b[i] = TxnAlphabet[b[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(b[:]), nil
}

// ValidTransactionID reports whether s is an acceptable transaction id:
// 1 to 64 ASCII letters, digits, '-', '_' or '.'.
func ValidTransactionID(s string) bool {
	if len(s) == 0 || len(s) > MaxTxnLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
