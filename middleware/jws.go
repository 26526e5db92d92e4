package middleware

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
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

// headerMembers are the JSON texts of the header members the header rules
// look at, the last of each name; "" when absent.
type headerMembers struct {
	alg, kid, typ, cty, crit, zip, b64 string
}

func (m *headerMembers) set(name, value string) {
	switch name {
	case "alg":
		m.alg = value
	case "kid":
		m.kid = value
	case "typ":
		m.typ = value
	case "cty":
		m.cty = value
	case "crit":
		m.crit = value
	case "zip":
		m.zip = value
	case "b64":
		m.b64 = value
	}
}

// parseHeader decodes the header segment and applies the header rules: alg
// must be a string naming an allowed algorithm (compared exactly, so "none"
// in any spelling and HMAC never pass); crit, zip, a b64 other than true
// and a nested JWT (cty JWT) are refused, as this package understands no
// JWS extension; kid and typ must be strings. jwk, jku, x5c and x5u are
// ignored: a key is only ever taken from the issuer's key set. Member
// names are case-sensitive (see readObject): "Crit" is not crit, and is
// ignored like any unknown member.
func (v *Validator) parseHeader(seg string) (header, error) {
	text, err := decodeSegment(seg)
	if err != nil {
		return header{}, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var m headerMembers
	if !readObject(text, m.set) {
		return header{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var h header
	name, ok := jsonString(m.alg)
	if !ok {
		return header{}, fmt.Errorf("%w: header has no alg string", ErrMalformed)
	}
	if h.alg = v.allowed(name); h.alg == nil {
		return header{}, fmt.Errorf("%w: algorithm %q is not allowed", ErrInvalidSignature, name)
	}
	if m.crit != "" {
		return header{}, fmt.Errorf("%w: unsupported critical header parameters", ErrMalformed)
	}
	if m.zip != "" {
		return header{}, fmt.Errorf("%w: compressed payload", ErrMalformed)
	}
	if m.b64 != "" && m.b64 != "true" {
		return header{}, fmt.Errorf("%w: unencoded payload (b64)", ErrMalformed)
	}
	if cty, ok := jsonString(m.cty); ok && classifyType(cty) == typeJWT {
		return header{}, fmt.Errorf("%w: nested JWT", ErrMalformed)
	}
	if m.kid != "" {
		if h.kid, h.hasKID = jsonString(m.kid); !h.hasKID {
			return header{}, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
	}
	h.typ = typeMissing
	if m.typ != "" {
		s, ok := jsonString(m.typ)
		if !ok {
			return header{}, fmt.Errorf("%w: typ is not a string", ErrMalformed)
		}
		h.typ = classifyType(s)
	}
	return h, nil
}

// decodeSegment decodes a base64url segment of a token to the text it
// holds. A text of up to 1 KiB, as the usual header and payload are, is
// decoded into a buffer on the stack, so that making the string is the
// only allocation.
func decodeSegment(seg string) (string, error) {
	var buf [1 << 10]byte
	b, err := decodeInto(buf[:], seg)
	return string(b), err
}

// decodeInto decodes the base64url seg into buf if it is large enough,
// else into a new slice.
func decodeInto(buf []byte, seg string) ([]byte, error) {
	if n := b64.DecodedLen(len(seg)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := b64.Decode(buf, []byte(seg))
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
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
	// The standard library takes the signing input as a []byte, and
	// []byte(input) would allocate a copy on every verification: the copy
	// is made into a buffer on the stack instead when it fits, as nearly
	// every token does. The hash, where it does not escape, stays on the
	// stack too.
	var inputBuf [2 << 10]byte
	msg := append(inputBuf[:0], input...)
	var sum [sha512.Size]byte
	switch a.kind {
	case kindEd25519:
		return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
	case kindRSA:
		hashed := appendDigest(sum[:0], a.hash, msg)
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), a.hash, hashed, sig) == nil
	case kindPSS:
		hashed := appendDigest(nil, a.hash, msg) // VerifyPSS lets it escape
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), a.hash, hashed, sig, opts) == nil
	case kindECDSA:
		size := (a.curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		hashed := appendDigest(sum[:0], a.hash, msg)
		der, ok := appendDERSignature(make([]byte, 0, maxDERSignature), sig[:size], sig[size:])
		return ok && ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), hashed, der)
	}
	return false
}

// maxDERSignature is the longest DER ECDSA signature appendDERSignature
// makes: P-521's, a SEQUENCE (3 bytes of tag and length) of two INTEGERs
// of 2 + 67 bytes (66 bytes and a zero to keep them positive).
const maxDERSignature = 3 + 2*(2+67)

// appendDERSignature appends to b the ASN.1 DER form that ecdsa.VerifyASN1
// takes, SEQUENCE { r INTEGER, s INTEGER }, of r and s, the big-endian
// halves of a JWS signature (RFC 7518 §3.4). ecdsa.Verify would turn big
// Ints back into this same encoding; building it from the bytes saves
// that round trip. It reports false when r or s is zero, which
// ecdsa.Verify refuses as well. The encoding is the minimal one DER
// requires (VerifyASN1 refuses any other): no leading zero bytes, but one
// zero byte before a first byte with its high bit set, which would
// otherwise read as negative.
func appendDERSignature(b, r, s []byte) ([]byte, bool) {
	r, s = bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(s, "\x00")
	if len(r) == 0 || len(s) == 0 {
		return nil, false
	}
	n := derIntegerLen(r) + derIntegerLen(s)
	b = append(b, 0x30) // SEQUENCE
	if n >= 0x80 {
		b = append(b, 0x81) // long form: one length byte follows (n < 256)
	}
	b = append(b, byte(n))
	return appendDERInteger(appendDERInteger(b, r), s), true
}

// derIntegerLen is the length of the DER INTEGER of x, a positive
// big-endian number without leading zeros and of at most 127 bytes.
func derIntegerLen(x []byte) int {
	return 2 + len(x) + int(x[0]>>7)
}

func appendDERInteger(b, x []byte) []byte {
	b = append(b, 0x02, byte(derIntegerLen(x)-2)) // INTEGER, length
	if x[0]&0x80 != 0 {
		b = append(b, 0)
	}
	return append(b, x...)
}

// appendDigest appends the hash h (SHA-256, SHA-384 or SHA-512) of msg to b.
func appendDigest(b []byte, h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return append(b, d[:]...)
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return append(b, d[:]...)
	}
	d := sha256.Sum256(msg)
	return append(b, d[:]...)
}
