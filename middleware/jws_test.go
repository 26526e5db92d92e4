package middleware

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strconv"
	"testing"
	"time"
)

// rawFixture is an issuer whose tokens the test writes as JSON texts, so
// that they can hold what a map cannot: duplicate names, escaped names,
// numbers out of range.
type rawFixture struct {
	iss     *ownIssuer
	key     *rsa.PrivateKey
	strict  *Validator
	lenient *Validator // AcceptJWTType
}

func newRawFixture(t testing.TB) *rawFixture {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &rawFixture{iss: newOwnIssuer(t), key: key}
	f.iss.setKeys(t, publicJWK(t, key, "k1", "RS256", "sig"))
	for _, v := range []**Validator{&f.strict, &f.lenient} {
		*v, err = New(context.Background(), Config{
			Issuer:        f.iss.URL,
			JWKSURL:       f.iss.URL + "/jwks",
			Audiences:     []string{testAudience},
			AcceptJWTType: v == &f.lenient,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*v).Close() })
	}
	return f
}

// sign signs the JSON texts header and payload, as they are, with RS256.
func (f *rawFixture) sign(t testing.TB, header, payload string) string {
	t.Helper()
	e := base64.RawURLEncoding
	input := e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(payload))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, digest(crypto.SHA256, input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + e.EncodeToString(sig)
}

// goodHeader and goodClaims are the members of a valid token, to which a
// test adds its own; claims must be given f.iss.URL and an exp.
const goodHeader = `"alg":"RS256","typ":"at+jwt","kid":"k1"`

func (f *rawFixture) goodClaims() string {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	return `"iss":"` + f.iss.URL + `","aud":"` + testAudience + `","exp":` + exp
}

// TestHeaderNames: header member names are case-sensitive and unescaped,
// and a name given twice counts with its last value, as when the header
// was decoded into a map by encoding/json. Whatever differs from a name
// this package reads only by case is an unknown member, ignored (RFC 7515
// §4): it can neither supply alg, kid or typ nor trigger crit.
func TestHeaderNames(t *testing.T) {
	t.Parallel()
	f := newRawFixture(t)
	tests := []struct {
		name, header string
		want         error
	}{
		{"valid", `{` + goodHeader + `}`, nil},
		{"whitespace", " {\n\t\"alg\" : \"RS256\" ,\r\n \"typ\":\"at+jwt\", \"kid\":\"k1\" }\n", nil},
		{"ALG is not alg", `{` + goodHeader + `,"ALG":"none"}`, nil},
		{"ALG only", `{"ALG":"RS256","typ":"at+jwt","kid":"k1"}`, ErrMalformed},
		{"Alg only", `{"Alg":"RS256","typ":"at+jwt","kid":"k1"}`, ErrMalformed},
		{"escaped alg", `{"\u0061lg":"RS256","typ":"at+jwt","kid":"k1"}`, nil},
		{"escaped alg none", `{` + goodHeader + `,"\u0061lg":"none"}`, ErrInvalidSignature},
		{"alg twice, last allowed", `{"alg":"none",` + goodHeader + `}`, nil},
		{"alg twice, last none", `{` + goodHeader + `,"alg":"none"}`, ErrInvalidSignature},
		{"alg twice, last not a string", `{` + goodHeader + `,"alg":null}`, ErrMalformed},
		{"Crit is not crit", `{` + goodHeader + `,"Crit":["exp"],"exp":1}`, nil},
		{"CRIT is not crit", `{` + goodHeader + `,"CRIT":["x"]}`, nil},
		{"escaped crit", `{` + goodHeader + `,"\u0063rit":["exp"],"exp":1}`, ErrMalformed},
		{"crit null", `{` + goodHeader + `,"crit":null}`, ErrMalformed},
		{"crit then Crit", `{"crit":["x"],` + goodHeader + `,"Crit":null}`, ErrMalformed},
		{"Zip is not zip", `{` + goodHeader + `,"Zip":"DEF"}`, nil},
		{"zip null", `{` + goodHeader + `,"zip":null}`, ErrMalformed},
		{"b64 true", `{` + goodHeader + `,"b64":true}`, nil},
		{"b64 string true", `{` + goodHeader + `,"b64":"true"}`, ErrMalformed},
		{"b64 false then true", `{` + goodHeader + `,"b64":false,"b64":true}`, nil},
		{"b64 true then false", `{` + goodHeader + `,"b64":true,"b64":false}`, ErrMalformed},
		{"B64 false", `{` + goodHeader + `,"B64":false}`, nil},
		{"cty JWT", `{` + goodHeader + `,"cty":"JWT"}`, ErrMalformed},
		{"CTY JWT", `{` + goodHeader + `,"CTY":"JWT"}`, nil},
		{"kid twice", `{"alg":"RS256","typ":"at+jwt","kid":"nope","kid":"k1"}`, nil},
		{"kid twice, last unknown", `{"alg":"RS256","typ":"at+jwt","kid":"k1","kid":"nope"}`, ErrUnknownKey},
		{"KID is not kid", `{"alg":"RS256","typ":"at+jwt","KID":"nope"}`, nil}, // no kid: every key is tried
		{"escaped kid", `{"alg":"RS256","typ":"at+jwt","\u006bid":"k\u0031"}`, nil},
		{"TYP is not typ", `{"alg":"RS256","TYP":"at+jwt","kid":"k1"}`, ErrInvalidType},
		{"typ twice", `{"alg":"RS256","typ":"JWT","typ":"at+jwt","kid":"k1"}`, nil},
		{"typ twice, last JWT", `{"alg":"RS256","typ":"at+jwt","typ":"JWT","kid":"k1"}`, ErrInvalidType},
		{"number out of range", `{` + goodHeader + `,"x":1e400}`, ErrMalformed},
		{"trailing text", `{` + goodHeader + `} x`, ErrMalformed},
		{"trailing comma", `{` + goodHeader + `,}`, ErrMalformed},
		{"two objects", `{` + goodHeader + `}{}`, ErrMalformed},
		{"array", `[{` + goodHeader + `}]`, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := f.sign(t, tc.header, `{`+f.goodClaims()+`}`)
			c, err := f.strict.Verify(context.Background(), tok)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Verify: %v, want accepted", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			case tc.want != nil && c != nil:
				t.Fatal("refused with claims")
			}
		})
	}
}

// TestAppendDERSignature compares the DER encoding with encoding/asn1's.
func TestAppendDERSignature(t *testing.T) {
	t.Parallel()
	fill := func(size int, bs ...byte) []byte {
		b := make([]byte, size)
		copy(b, bs)
		return b
	}
	for _, size := range []int{32, 48, 66} {
		random := make([]byte, size)
		_, _ = rand.Read(random)
		values := [][]byte{
			random,
			fill(size, 0x01),
			fill(size, 0x7f, 0xff),
			fill(size, 0x80),
			fill(size, 0xff),
			fill(size, 0, 0x80),
			fill(size, 0, 0, 0x01),
			append(make([]byte, size-1), 1),
			append(make([]byte, size-1), 0x80),
			bytes.Repeat([]byte{0xff}, size),
		}
		for _, r := range values {
			for _, s := range values {
				got, ok := appendDERSignature(nil, r, s)
				want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
				if err != nil {
					t.Fatal(err)
				}
				if !ok || !bytes.Equal(got, want) {
					t.Fatalf("appendDERSignature(%x, %x) = %x, %v; want %x", r, s, got, ok, want)
				}
				if len(got) > maxDERSignature {
					t.Fatalf("%d bytes, more than maxDERSignature", len(got))
				}
			}
		}
		zero := make([]byte, size)
		if _, ok := appendDERSignature(nil, zero, random); ok {
			t.Error("r = 0 encoded")
		}
		if _, ok := appendDERSignature(nil, random, zero); ok {
			t.Error("s = 0 encoded")
		}
	}
}

// TestECDSAVerifyMatchesBigInt: verifying r||s through DER decides as
// ecdsa.Verify with big.Ints did, on good signatures (including those
// whose r or s has leading zero bytes or a high first bit), on
// signatures with bits flipped, and on r or s of 0, n-1, n, or beyond.
func TestECDSAVerifyMatchesBigInt(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ES256", "ES384", "ES512"} {
		a := lookupAlgorithm(name)
		key, err := ecdsa.GenerateKey(a.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := (a.curve.Params().BitSize + 7) / 8
		input := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ"
		hashed := digest(a.hash, input)
		bigIntVerify := func(sig []byte) bool {
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			return ecdsa.Verify(&key.PublicKey, hashed, r, s)
		}
		check := func(what string, sig []byte) {
			t.Helper()
			if got, want := a.verify(&key.PublicKey, input, sig), bigIntVerify(sig); got != want {
				t.Fatalf("%s %s %x: verify = %v, ecdsa.Verify = %v", name, what, sig, got, want)
			}
		}
		// P-521 leaves the top 7 bits of its 66 bytes zero: no high bit.
		leadingZero, highBit := false, size == 66
		for i := 0; i < 5000 && (i < 50 || !leadingZero || !highBit); i++ {
			r, s, err := ecdsa.Sign(rand.Reader, key, hashed)
			if err != nil {
				t.Fatal(err)
			}
			sig := make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
			if !a.verify(&key.PublicKey, input, sig) {
				t.Fatalf("%s: good signature %x refused", name, sig)
			}
			leadingZero = leadingZero || sig[0] == 0 || sig[size] == 0
			highBit = highBit || sig[0]&0x80 != 0 || sig[size]&0x80 != 0
			if i < 50 {
				bad := bytes.Clone(sig)
				bad[i%len(bad)] ^= 1 << (i % 8)
				check("flipped", bad)
			}
		}
		if !leadingZero || !highBit {
			t.Errorf("%s: no signature with a leading zero (%v) or a high bit (%v) found", name, leadingZero, highBit)
		}
		n := a.curve.Params().N
		_, s, _ := ecdsa.Sign(rand.Reader, key, hashed)
		for _, r := range []*big.Int{
			big.NewInt(0), big.NewInt(1), new(big.Int).Sub(n, big.NewInt(1)), n,
			new(big.Int).Add(n, big.NewInt(1)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*size)), big.NewInt(1)),
		} {
			sig := make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
			check("r", sig)
			s.FillBytes(sig[:size])
			r.FillBytes(sig[size:])
			check("s", sig)
		}
	}
}

// TestECDSAWrongCurveSizes: the r||s length must be exactly twice the
// curve's size, with or without padding, for every ECDSA algorithm.
func TestECDSAWrongCurveSizes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ES256", "ES384", "ES512"} {
		a := lookupAlgorithm(name)
		key, _ := ecdsa.GenerateKey(a.curve, rand.Reader)
		size := (a.curve.Params().BitSize + 7) / 8
		r, s, _ := ecdsa.Sign(rand.Reader, key, digest(a.hash, "x.y"))
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		if !a.verify(&key.PublicKey, "x.y", sig) {
			t.Fatalf("%s: good signature refused", name)
		}
		for _, bad := range [][]byte{
			sig[:len(sig)-1],
			append(bytes.Clone(sig), 0),
			append([]byte{0}, sig...),
			append(append(append([]byte{}, sig[:size]...), 0), sig[size:]...),
		} {
			if a.verify(&key.PublicKey, "x.y", bad) {
				t.Errorf("%s: signature of %d bytes accepted", name, len(bad))
			}
		}
		der, _ := appendDERSignature(nil, sig[:size], sig[size:])
		if a.verify(&key.PublicKey, "x.y", der) {
			t.Errorf("%s: DER signature accepted", name)
		}
	}
}
