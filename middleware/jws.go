package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Size caps, checked before anything is split or decoded.
const (
	// maxTokenBytes caps a whole compact token. Access tokens are a few
	// hundred bytes to a few kilobytes; 16 KiB leaves room for large
	// group claims and stays below what most proxies forward.
	maxTokenBytes = 16 << 10
	// maxHeaderBytes caps the encoded JWS header segment. A header is
	// alg, kid and typ; 2 KiB allows x5t and friends, not a certificate
	// chain (x5c), which this package would ignore anyway.
	maxHeaderBytes = 2 << 10
)

// b64 decodes the segments of a compact JWS: base64url without padding,
// with the unused trailing bits required to be zero so that one token has
// one spelling.
var b64 = base64.RawURLEncoding.Strict()

// isB64URL marks the bytes of the base64url alphabet.
var isB64URL = func() (t [256]bool) {
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[r] = true
	}
	return t
}()

// Format errors, made once: refusing junk allocates nothing.
var (
	errTooLong      = fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenBytes)
	errHeaderTooBig = fmt.Errorf("%w: header segment longer than %d bytes", ErrMalformed, maxHeaderBytes)
	errCharset      = fmt.Errorf("%w: character outside base64url", ErrMalformed)
	errSegments     = fmt.Errorf("%w: not three dot-separated segments", ErrMalformed)
	errEmptySegment = fmt.Errorf("%w: empty segment", ErrMalformed)
)

// splitToken checks the shape of a compact JWS in one pass over its bytes,
// without allocating, and returns the positions of its two dots. It is the
// first step of Verify: nothing is decoded before it passes.
func splitToken(token string) (dot1, dot2 int, err error) {
	if len(token) > maxTokenBytes {
		return 0, 0, errTooLong
	}
	dot1, dot2 = -1, -1
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '.' {
			if !isB64URL[c] {
				return 0, 0, errCharset
			}
			continue
		}
		switch {
		case dot1 < 0:
			dot1 = i
		case dot2 < 0:
			dot2 = i
		default:
			return 0, 0, errSegments
		}
	}
	switch {
	case dot2 < 0:
		return 0, 0, errSegments
	case dot1 == 0 || dot2 == dot1+1 || dot2 == len(token)-1:
		return 0, 0, errEmptySegment
	case dot1 > maxHeaderBytes:
		return 0, 0, errHeaderTooBig
	}
	return dot1, dot2, nil
}

// tokenType is what a typ header says a token is.
type tokenType int

const (
	typeMissing     tokenType = iota // no typ
	typeAccessToken                  // at+jwt, application/at+jwt (RFC 9068)
	typeJWT                          // JWT, application/jwt
	typeOther                        // anything else: logout+jwt, dpop+jwt, …
)

// classifyType reads a typ value as RFC 7515 §4.1.9 says: a media type,
// compared case-insensitively, with "application/" implied when the value
// has no slash. Media-type parameters are not accepted.
func classifyType(typ string) tokenType {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	switch {
	case strings.EqualFold(typ, "at+jwt"):
		return typeAccessToken
	case strings.EqualFold(typ, "jwt"):
		return typeJWT
	}
	return typeOther
}

// header is the part of a JWS header Verify uses.
type header struct {
	alg    *algorithm
	kid    string
	hasKID bool
	typ    tokenType
}

// parseHeader decodes the header segment and applies the header rules: alg
// must be a string naming an allowed algorithm (compared exactly, so "none"
// in any spelling and HMAC never pass); crit, zip, a b64 other than true
// and a nested JWT (cty JWT) are refused, as this package understands no
// JWS extension; kid and typ must be strings. jwk, jku, x5c and x5u are
// ignored: a key is only ever taken from the issuer's key set.
func (v *Validator) parseHeader(seg string) (header, error) {
	buf := make([]byte, b64.DecodedLen(len(seg)))
	n, err := b64.Decode(buf, []byte(seg))
	if err != nil {
		return header{}, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf[:n], &raw); err != nil || raw == nil {
		return header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var h header
	name, ok := raw["alg"].(string)
	if !ok {
		return header{}, fmt.Errorf("%w: header has no alg string", ErrMalformed)
	}
	if h.alg = v.allowed(name); h.alg == nil {
		return header{}, fmt.Errorf("%w: algorithm %q is not allowed", ErrInvalidSignature, name)
	}
	if _, ok := raw["crit"]; ok {
		return header{}, fmt.Errorf("%w: unsupported critical header parameters", ErrMalformed)
	}
	if _, ok := raw["zip"]; ok {
		return header{}, fmt.Errorf("%w: compressed payload", ErrMalformed)
	}
	if b, ok := raw["b64"]; ok && b != true {
		return header{}, fmt.Errorf("%w: unencoded payload (b64)", ErrMalformed)
	}
	if cty, ok := raw["cty"].(string); ok && classifyType(cty) == typeJWT {
		return header{}, fmt.Errorf("%w: nested JWT", ErrMalformed)
	}
	if k, ok := raw["kid"]; ok {
		if h.kid, h.hasKID = k.(string); !h.hasKID {
			return header{}, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
	}
	h.typ = typeMissing
	if t, ok := raw["typ"]; ok {
		s, ok := t.(string)
		if !ok {
			return header{}, fmt.Errorf("%w: typ is not a string", ErrMalformed)
		}
		h.typ = classifyType(s)
	}
	return h, nil
}

// algorithm is a JWS signature algorithm this package verifies.
type algorithm struct {
	name  string
	hash  crypto.Hash
	kind  keyKind
	curve elliptic.Curve // for ECDSA
}

type keyKind int

const (
	kindRSA     keyKind = iota // RSASSA-PKCS1-v1_5
	kindPSS                    // RSASSA-PSS
	kindECDSA                  // ECDSA with the curve of the algorithm
	kindEd25519                // EdDSA with Ed25519
)

// algorithms are the asymmetric JWS algorithms of RFC 7518 and RFC 8037.
// HMAC and none are deliberately absent: a resource server shares no
// secret with its issuer, and an unsigned token proves nothing.
var algorithms = []*algorithm{
	{name: "RS256", hash: crypto.SHA256, kind: kindRSA},
	{name: "RS384", hash: crypto.SHA384, kind: kindRSA},
	{name: "RS512", hash: crypto.SHA512, kind: kindRSA},
	{name: "PS256", hash: crypto.SHA256, kind: kindPSS},
	{name: "PS384", hash: crypto.SHA384, kind: kindPSS},
	{name: "PS512", hash: crypto.SHA512, kind: kindPSS},
	{name: "ES256", hash: crypto.SHA256, kind: kindECDSA, curve: elliptic.P256()},
	{name: "ES384", hash: crypto.SHA384, kind: kindECDSA, curve: elliptic.P384()},
	{name: "ES512", hash: crypto.SHA512, kind: kindECDSA, curve: elliptic.P521()},
	{name: "EdDSA", kind: kindEd25519},
}

func lookupAlgorithm(name string) *algorithm {
	for _, a := range algorithms {
		if a.name == name {
			return a
		}
	}
	return nil
}

// fits reports whether pub is a key of the type and size a needs.
func (a *algorithm) fits(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return a.kind == kindRSA || a.kind == kindPSS
	case *ecdsa.PublicKey:
		return a.kind == kindECDSA && k.Curve == a.curve
	case ed25519.PublicKey:
		return a.kind == kindEd25519 && len(k) == ed25519.PublicKeySize
	}
	return false
}

// verify checks sig over input with pub, which must fit a. It hashes
// input itself; RSA-PSS requires the salt length RFC 7518 §3.5 fixes (the
// hash size), and ECDSA signatures must be the fixed-size r||s of RFC 7518
// §3.4, not DER.
func (a *algorithm) verify(pub crypto.PublicKey, input string, sig []byte) bool {
	if !a.fits(pub) {
		return false
	}
	switch a.kind {
	case kindEd25519:
		return ed25519.Verify(pub.(ed25519.PublicKey), []byte(input), sig)
	case kindRSA:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), a.hash, digest(a.hash, input), sig) == nil
	case kindPSS:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), a.hash, digest(a.hash, input), sig, opts) == nil
	case kindECDSA:
		size := (a.curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub.(*ecdsa.PublicKey), digest(a.hash, input), r, s)
	}
	return false
}

func digest(h crypto.Hash, input string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(input))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(input))
		return d[:]
	}
	d := sha256.Sum256([]byte(input))
	return d[:]
}
