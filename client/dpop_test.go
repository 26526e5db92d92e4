package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
)

var (
	edKey = sync.OnceValue(func() crypto.Signer { _, k, _ := ed25519.GenerateKey(rand.Reader); return k })
	p384  = sync.OnceValue(func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader); return k })
)

// newDPoP returns a DPoP for key and alg whose clock is now.
func newDPoP(t testing.TB, key crypto.Signer, alg string, now func() time.Time) *client.DPoP {
	t.Helper()
	d, err := client.NewDPoP(key, alg)
	if err != nil {
		t.Fatalf("NewDPoP: %v", err)
	}
	d.Now = now
	return d
}

// proof is a verified DPoP proof, decoded.
type dpopProof struct {
	header map[string]any
	jwk    map[string]any
	claims map[string]any
	key    jose.JSONWebKey
}

// verifyProof checks that raw is a compact JWS signed with alg by the key
// of its jwk header, and decodes it.
func verifyProof(t testing.TB, raw, alg string) dpopProof {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("proof %q: %v", raw, err)
	}
	key := jws.Signatures[0].Protected.JSONWebKey
	if key == nil {
		t.Fatal("proof has no jwk header")
	}
	if !key.IsPublic() {
		t.Fatal("proof's jwk is a private key")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("proof signature: %v", err)
	}
	var p dpopProof
	p.key = *key
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err := json.Unmarshal(hdr, &p.header); err != nil {
		t.Fatalf("proof header: %v", err)
	}
	p.jwk, _ = p.header["jwk"].(map[string]any)
	if err := json.Unmarshal(payload, &p.claims); err != nil {
		t.Fatalf("proof claims: %v", err)
	}
	return p
}

// hashOf is the expected ath of token.
func hashOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// publicMembers are the JWK members a public key may have.
var publicMembers = map[string]bool{"kty": true, "crv": true, "x": true, "y": true, "n": true, "e": true}

func TestDPoPProofShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, alg, want string
		key             crypto.Signer
	}{
		{"P-256 default", "", "ES256", ecKey()},
		{"P-384 default", "", "ES384", p384()},
		{"RSA default", "", "RS256", rsaKey()},
		{"RSA PSS", "PS256", "PS256", rsaKey()},
		{"Ed25519 default", "", "EdDSA", edKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDPoP(t, tt.key, tt.alg, func() time.Time { return at })
			if d.Algorithm() != tt.want {
				t.Fatalf("Algorithm %s, want %s", d.Algorithm(), tt.want)
			}
			raw, err := d.Proof("POST", "https://user:pw@as.example/token?x=1#frag", "")
			if err != nil {
				t.Fatal(err)
			}
			p := verifyProof(t, raw, tt.want)
			if p.header["typ"] != "dpop+jwt" || p.header["alg"] != tt.want || len(p.header) != 3 {
				t.Errorf("header %v", p.header)
			}
			for k := range p.jwk {
				if !publicMembers[k] {
					t.Errorf("jwk member %q", k)
				}
			}
			thumb, _ := p.key.Thumbprint(crypto.SHA256)
			if base64.RawURLEncoding.EncodeToString(thumb) != d.Thumbprint() {
				t.Error("Thumbprint is not the jwk's")
			}
			want := map[string]any{"htm": "POST", "htu": "https://as.example/token", "iat": float64(at.Unix())}
			for k, v := range want {
				if p.claims[k] != v {
					t.Errorf("%s = %v, want %v", k, p.claims[k], v)
				}
			}
			if _, ok := p.claims["ath"]; ok {
				t.Error("ath without an access token")
			}
			if _, ok := p.claims["nonce"]; ok {
				t.Error("nonce without one set")
			}
			jti, _ := p.claims["jti"].(string)
			if b, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(b) < 16 {
				t.Errorf("jti %q has fewer than 128 bits", jti)
			}

			raw2, err := d.Proof("GET", "https://api.example", "tok-en")
			if err != nil {
				t.Fatal(err)
			}
			p2 := verifyProof(t, raw2, tt.want)
			if p2.claims["ath"] != hashOf("tok-en") || p2.claims["htu"] != "https://api.example/" || p2.claims["htm"] != "GET" {
				t.Errorf("claims %v", p2.claims)
			}
			if p2.claims["jti"] == jti {
				t.Error("jti repeated")
			}
		})
	}
}

func TestDPoPDefaultClock(t *testing.T) {
	t.Parallel()
	d, err := client.NewDPoP(ecKey(), "")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	raw, err := d.Proof("GET", "https://api.example/x", "")
	if err != nil {
		t.Fatal(err)
	}
	iat := int64(verifyProof(t, raw, "ES256").claims["iat"].(float64))
	if iat < before || iat > time.Now().Unix() {
		t.Fatalf("iat %d is not now", iat)
	}
}

// rawSigner is a crypto.Signer with a given public key that cannot sign.
type rawSigner struct{ pub crypto.PublicKey }

func (s rawSigner) Public() crypto.PublicKey { return s.pub }
func (s rawSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("cannot sign")
}

func TestDPoPThumbprintRFC7638(t *testing.T) {
	t.Parallel()
	// The example key of RFC 7638 §3.1 and its thumbprint.
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt" +
		"VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6" +
		"4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD" +
		"W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9" +
		"1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH" +
		"aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
	d, err := client.NewDPoP(rawSigner{pub}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Thumbprint(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("Thumbprint %s", got)
	}
	if _, err := d.Proof("POST", "https://as.example/token", ""); err == nil {
		t.Fatal("a failing signer made a proof")
	}
}

func TestNewDPoPRefuses(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"no key", nil, ""},
		{"HMAC", ecKey(), "HS256"},
		{"none", ecKey(), "none"},
		{"unknown", rsaKey(), "XS256"},
		{"RSA alg for EC key", ecKey(), "RS256"},
		{"EC alg for RSA key", rsaKey(), "ES256"},
		{"wrong curve", p384(), "ES256"},
		{"EdDSA for EC key", ecKey(), "EdDSA"},
		{"small RSA key", small, ""},
		{"unknown key type", rawSigner{[]byte("secret")}, ""},
		{"unknown curve", p224, ""},
		{"unknown curve, explicit alg", p224, "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d, err := client.NewDPoP(tt.key, tt.alg); err == nil {
				t.Fatalf("accepted, alg %s", d.Algorithm())
			}
		})
	}
}

func TestDPoPProofRefuses(t *testing.T) {
	t.Parallel()
	d := newDPoP(t, ecKey(), "", nil)
	tests := []struct{ name, method, url string }{
		{"no method", "", "https://as.example/token"},
		{"method with space", "GE T", "https://as.example/token"},
		{"method with non-ASCII", "GÉT", "https://as.example/token"},
		{"relative URL", "GET", "/token"},
		{"no host", "GET", "https:///token"},
		{"bad URL", "GET", "https://as.example/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if p, err := d.Proof(tt.method, tt.url, ""); err == nil {
				t.Fatalf("made a proof: %s", p)
			}
		})
	}
	if _, err := new(client.DPoP).Proof("GET", "https://as.example/", ""); err == nil {
		t.Error("the zero DPoP made a proof")
	}
	if _, err := client.New(client.Config{ClientID: "c", Endpoint: client.Endpoint{TokenURL: "https://as.example/token"}, DPoP: new(client.DPoP)}); err == nil {
		t.Error("New accepted a DPoP not made by NewDPoP")
	}
}

// nonceOf makes a proof for rawURL and returns its nonce claim.
func nonceOf(t testing.TB, d *client.DPoP, rawURL string) string {
	t.Helper()
	raw, err := d.Proof("GET", rawURL, "")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := verifyProof(t, raw, d.Algorithm()).claims["nonce"].(string)
	return n
}

func TestDPoPNonceByOrigin(t *testing.T) {
	t.Parallel()
	d := newDPoP(t, ecKey(), "", nil)
	if err := d.SetNonce("https://as.example/token?q", "n-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetNonce("http://[::1]:8080/x", "n-6"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ url, want string }{
		{"https://as.example/other", "n-1"},
		{"https://AS.Example:443/", "n-1"},
		{"HTTPS://as.example/par", "n-1"},
		{"http://as.example/token", ""},
		{"https://as.example:8443/token", ""},
		{"https://api.example/token", ""},
		{"http://[::1]:8080/y", "n-6"},
		{"http://[::1]/y", ""},
	}
	for _, tt := range tests {
		if got := nonceOf(t, d, tt.url); got != tt.want {
			t.Errorf("%s: nonce %q, want %q", tt.url, got, tt.want)
		}
	}
	if err := d.SetNonce("https://as.example/", "n-2"); err != nil {
		t.Fatal(err)
	}
	if got := nonceOf(t, d, "https://as.example/token"); got != "n-2" {
		t.Errorf("nonce %q after an update, want n-2", got)
	}
}

func TestDPoPSetNonceRefuses(t *testing.T) {
	t.Parallel()
	d := newDPoP(t, ecKey(), "", nil)
	ok := strings.Repeat("a", client.MaxDPoPNonceBytes)
	if err := d.SetNonce("https://as.example/", ok); err != nil {
		t.Fatalf("nonce of the maximum length refused: %v", err)
	}
	tests := []struct{ name, url, nonce string }{
		{"empty", "https://as.example/", ""},
		{"too long", "https://as.example/", ok + "a"},
		{"space", "https://as.example/", "a b"},
		{"quote", "https://as.example/", `a"b`},
		{"backslash", "https://as.example/", `a\b`},
		{"control", "https://as.example/", "a\nb"},
		{"non-ASCII", "https://as.example/", "nonce-é"},
		{"relative URL", "/token", "n"},
	}
	for _, tt := range tests {
		if err := d.SetNonce(tt.url, tt.nonce); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if got := nonceOf(t, d, "https://as.example/"); got != ok {
		t.Errorf("a refused nonce replaced the stored one: %q", got)
	}
}

func TestDPoPNonceEviction(t *testing.T) {
	t.Parallel()
	d := newDPoP(t, ecKey(), "", nil)
	origin := func(i int) string { return fmt.Sprintf("https://h%d.example/", i) }
	for i := range client.MaxDPoPNonceOrigins {
		if err := d.SetNonce(origin(i), fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Updating origin 0 makes origin 1 the oldest.
	if err := d.SetNonce(origin(0), "fresh"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetNonce(origin(client.MaxDPoPNonceOrigins), "last"); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{0: "fresh", 1: "", 2: "n2", client.MaxDPoPNonceOrigins - 1: fmt.Sprint("n", client.MaxDPoPNonceOrigins-1), client.MaxDPoPNonceOrigins: "last"}
	for i, w := range want {
		if got := nonceOf(t, d, origin(i)); got != w {
			t.Errorf("origin %d: nonce %q, want %q", i, got, w)
		}
	}
}

func TestDPoPConcurrentUse(t *testing.T) {
	t.Parallel()
	d := newDPoP(t, ecKey(), "", nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				u := fmt.Sprintf("https://h%d.example/", j%3)
				if err := d.SetNonce(u, fmt.Sprintf("n%d-%d", i, j)); err != nil {
					t.Error(err)
				}
				if _, err := d.Proof("GET", u, "at"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkDPoPProof(b *testing.B) {
	d := newDPoP(b, ecKey(), "", nil)
	if err := d.SetNonce("https://api.example/", "nonce-1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Proof("GET", "https://api.example/resource?q=1", "access-token"); err != nil {
			b.Fatal(err)
		}
	}
}
