package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// A sealed value, before base64url encoding, is
//
//	version (1 byte) | key ID (4 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// sealed with AES-256-GCM (see the package documentation). The additional data
// is the version, the key ID and the name the value is stored under (a cookie
// name for CookieStore, a Redis key for RedisStore), so a value moved to another
// cookie or key, or relabelled with another version or key ID, fails to open.
// The key ID only selects the key: a wrong ID selects a key that cannot open the
// value. Cookie names are HTTP tokens, which never contain the ':' every Redis
// key of RedisStore does, so the two kinds of names cannot collide.
const (
	formatVersion = 1
	keyIDSize     = 4
	headerSize    = 1 + keyIDSize

	// MinKeySize is the smallest secret NewCookieStore accepts, in bytes.
	MinKeySize = 32
)

// Labels for key derivation; changing either one invalidates every cookie.
const (
	encryptionInfo = "keyway session cookie v1 AES-256-GCM"
	keyIDLabel     = "keyway session cookie v1 key ID"
)

// sealKey is one secret turned into an AEAD and the ID that names it.
type sealKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// sealer seals with its first key and opens with any of them. It is safe for
// concurrent use: the AEADs hold no mutable state.
type sealer struct {
	keys []sealKey
}

func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("session: no keys: at least one secret is required")
	}
	keys := make([]sealKey, 0, len(secrets))
	for i, secret := range secrets {
		if len(secret) < MinKeySize {
			return nil, fmt.Errorf("session: key %d is %d bytes, want at least %d", i, len(secret), MinKeySize)
		}
		k, err := deriveKey(secret)
		if err != nil {
			return nil, fmt.Errorf("session: key %d: %w", i, err)
		}
		for j := range keys {
			if keys[j].id == k.id {
				return nil, fmt.Errorf("session: key %d repeats key %d", i, j)
			}
		}
		keys = append(keys, k)
	}
	return &sealer{keys: keys}, nil
}

// deriveKey derives the AES-256 key of a secret with HKDF-SHA-256, and names it
// with the first bytes of an HMAC of a fixed label under that key.
func deriveKey(secret []byte) (sealKey, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, encryptionInfo, 32)
	if err != nil {
		return sealKey{}, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealKey{}, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return sealKey{}, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(keyIDLabel))
	k := sealKey{aead: aead}
	copy(k.id[:], mac.Sum(nil))
	return k, nil
}

// seal encrypts plaintext, to be stored under name, with the newest key.
func (s *sealer) seal(name string, plaintext []byte) []byte {
	k := s.keys[0]
	out := make([]byte, headerSize, headerSize+len(plaintext)+k.aead.Overhead())
	out[0] = formatVersion
	copy(out[1:], k.id[:])
	return k.aead.Seal(out, nil, plaintext, additionalData(out[:headerSize], name))
}

// open decrypts a sealed value read from under name. Every failure wraps
// ErrInvalid.
func (s *sealer) open(name string, sealed []byte) ([]byte, error) {
	if len(sealed) < headerSize {
		return nil, fmt.Errorf("%w: sealed value too short", ErrInvalid)
	}
	if sealed[0] != formatVersion {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrInvalid, sealed[0])
	}
	k := s.key(sealed[1:headerSize])
	if k == nil {
		return nil, fmt.Errorf("%w: unknown key", ErrInvalid)
	}
	plaintext, err := k.aead.Open(nil, nil, sealed[headerSize:], additionalData(sealed[:headerSize], name))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return plaintext, nil
}

// key returns the key named id, or nil.
func (s *sealer) key(id []byte) *sealKey {
	for i := range s.keys {
		if string(s.keys[i].id[:]) == string(id) {
			return &s.keys[i]
		}
	}
	return nil
}

// additionalData binds a sealed value's header and the name it is stored under.
func additionalData(header []byte, name string) []byte {
	return append(header[:len(header):len(header)], name...)
}

// subkeys derives, with HKDF-SHA-256 under the label info, one 32-byte key from
// each secret, in the order of the secrets: the first is for new values, all
// are for checking old ones. The secrets must have passed newSealer.
func subkeys(secrets [][]byte, info string) ([][]byte, error) {
	keys := make([][]byte, len(secrets))
	for i, secret := range secrets {
		k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
		if err != nil {
			return nil, fmt.Errorf("session: key %d: %w", i, err)
		}
		keys[i] = k
	}
	return keys, nil
}
