package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// DPoP nonces (RFC 9449 §9) are made without state, so that every replica
// holding the same Config.DPoP.NonceKey issues and accepts the same ones:
//
//	nonce = base64url(window || HMAC-SHA256(key, nonceLabel || window)[:16])
//
// where window is the current time divided by NonceLifetime, as 8 bytes
// big-endian. A nonce of the current window or of the one before is
// accepted, so a nonce lives between one and two lifetimes. Nonces carry
// no secret and no client data: they only prove that a proof was made
// after the server issued the nonce, which bounds a proof's age by the
// server's clock instead of the client's iat.

// nonceLabel separates these MACs from any other use of the same key.
const nonceLabel = "keyway dpop nonce\x00"

const (
	nonceMACBytes  = 16                    // the truncated HMAC: 128 bits
	nonceRawBytes  = 8 + nonceMACBytes     // window and MAC
	nonceTextBytes = nonceRawBytes * 4 / 3 // base64url without padding (24 bytes → 32)
)

// nonceSource issues and checks nonces. It is safe for concurrent use.
type nonceSource struct {
	key      []byte
	lifetime time.Duration
	// current caches the nonces of the last window seen, so that issuing
	// and checking cost one comparison instead of a MAC.
	current atomic.Pointer[nonceWindow]
}

// nonceWindow holds the nonces valid during one window.
type nonceWindow struct {
	window    int64
	this      string // the nonce of window, the one issued
	previous  string // the nonce of window-1, still accepted
	thisBytes []byte
	prevBytes []byte
}

func newNonceSource(key []byte, lifetime time.Duration) *nonceSource {
	return &nonceSource{key: append([]byte(nil), key...), lifetime: lifetime}
}

// at returns the nonces of the window now falls in.
func (s *nonceSource) at(now time.Time) *nonceWindow {
	w := now.UnixNano() / int64(s.lifetime)
	if c := s.current.Load(); c != nil && c.window == w {
		return c
	}
	c := &nonceWindow{window: w, this: s.make(w), previous: s.make(w - 1)}
	c.thisBytes, c.prevBytes = []byte(c.this), []byte(c.previous)
	s.current.Store(c) // a racing store of the same window is as good
	return c
}

// make returns the nonce of window w.
func (s *nonceSource) make(w int64) string {
	var raw [nonceRawBytes]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(w))
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(nonceLabel))
	mac.Write(raw[:8])
	copy(raw[8:], mac.Sum(nil))
	return b64.EncodeToString(raw[:])
}

// issue returns the nonce to send at now.
func (s *nonceSource) issue(now time.Time) string { return s.at(now).this }

// valid reports whether nonce is the nonce of now's window or of the one
// before, compared in constant time.
func (s *nonceSource) valid(nonce string, now time.Time) bool {
	if len(nonce) != nonceTextBytes {
		return false
	}
	c := s.at(now)
	var b [nonceTextBytes]byte
	copy(b[:], nonce)
	return subtle.ConstantTimeCompare(b[:], c.thisBytes)|subtle.ConstantTimeCompare(b[:], c.prevBytes) == 1
}
