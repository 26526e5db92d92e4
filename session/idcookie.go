package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// The cookie of a RedisStore session holds no session data, only
//
//	ID "." tag
//
// where ID is the session ID (32 random bytes, base64url without padding, 43
// characters) and tag is the first 16 bytes of
//
//	HMAC-SHA-256(K, label | 0x00 | cookie name | 0x00 | ID)
//
// in base64url (22 characters). K is derived from a secret with HKDF-SHA-256,
// so the tag binds the ID to the store's secrets and to the cookie name: a
// guessed, altered or moved ID is refused before Redis is asked, and the IDs a
// Redis dump shows in its key names cannot be turned into cookies without the
// secrets. New IDs are tagged under the newest secret; any secret's tag is
// accepted, as for sealed values.
const (
	idCookieMACInfo = "keyway redis session cookie v1 HMAC-SHA-256"
	idCookieLabel   = "keyway redis session ID v1"
	idSize          = 32
	tagSize         = 16
	idLen           = (idSize*8 + 5) / 6  // 43 base64url characters
	tagLen          = (tagSize*8 + 5) / 6 // 22 base64url characters
	idCookieLen     = idLen + 1 + tagLen
)

// idTagger tags session IDs for cookies and checks the tags.
type idTagger struct {
	keys [][]byte // newest first
}

func newIDTagger(secrets [][]byte) (*idTagger, error) {
	keys, err := subkeys(secrets, idCookieMACInfo)
	if err != nil {
		return nil, err
	}
	return &idTagger{keys: keys}, nil
}

// encode returns the value of the cookie called name for the session ID id.
func (t *idTagger) encode(name, id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(t.tag(t.keys[0], name, id))
}

// decode returns the session ID held by the value of the cookie called name.
// It accepts only a value encode could have returned, under any of the keys;
// every failure wraps ErrInvalid.
func (t *idTagger) decode(name, value string) (string, error) {
	if len(value) != idCookieLen || value[idLen] != '.' {
		return "", fmt.Errorf("%w: malformed session ID cookie", ErrInvalid)
	}
	id, tagText := value[:idLen], value[idLen+1:]
	if !validID(id) {
		return "", fmt.Errorf("%w: malformed session ID", ErrInvalid)
	}
	tag, err := base64.RawURLEncoding.Strict().DecodeString(tagText)
	if err != nil || len(tag) != tagSize {
		return "", fmt.Errorf("%w: malformed session ID tag", ErrInvalid)
	}
	for _, k := range t.keys {
		if hmac.Equal(tag, t.tag(k, name, id)) {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: session ID tag mismatch", ErrInvalid)
}

func (t *idTagger) tag(key []byte, name, id string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(idCookieLabel + "\x00" + name + "\x00" + id))
	return mac.Sum(nil)[:tagSize]
}

// validID reports whether id has the form of the IDs newID returns: 32 bytes
// in canonical base64url.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(raw) == idSize
}
