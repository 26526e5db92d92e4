package bench

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
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The algorithms benchmarked, in the order they are reported.
var algs = []string{"RS256", "ES256", "EdDSA"}

const (
	// poolSize is the number of distinct tokens per algorithm cycled by the
	// "fresh" pattern. See middleware_test.go for why Keyway's cache never
	// answers them.
	poolSize = 4096
	audience = "https://api.example.com"
	clientID = "s6BhdRkqt3"
	scope    = "openid profile read:messages write:messages"
)

var b64 = base64.RawURLEncoding

// signer is one signing key of the provider and what a verifier needs of it.
type signer struct {
	alg string
	kid string
	key crypto.Signer
}

// issuer is an in-process OAuth provider: its keys, the JWKS it serves on
// 127.0.0.1, and a count of the key-set fetches it answered.
type issuer struct {
	srv     *httptest.Server
	url     string // iss of the tokens: the server's URL
	jwksURL string
	signers map[string]*signer // by alg
	fetches atomic.Int64
}

func newIssuer(tb testing.TB) *issuer {
	tb.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	is := &issuer{signers: map[string]*signer{
		"RS256": {alg: "RS256", kid: "rs256-1", key: rsaKey},
		"ES256": {alg: "ES256", kid: "es256-1", key: ecKey},
		"EdDSA": {alg: "EdDSA", kid: "eddsa-1", key: edKey},
	}}
	var set jose.JSONWebKeySet
	for _, alg := range algs {
		s := is.signers[alg]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: s.alg, Use: "sig"})
	}
	body, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		is.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}))
	is.url = is.srv.URL
	is.jwksURL = is.srv.URL + "/jwks"
	return is
}

// claims are the RFC 9068 claims of every benchmarked token.
type claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp,omitempty"`
	ID       string `json:"jti"`
}

// validClaims returns the claims of a good token numbered n, valid for an
// hour.
func (is *issuer) validClaims(n int) claims {
	now := time.Now()
	return claims{
		Issuer:   is.url,
		Subject:  fmt.Sprintf("user-%06d", n),
		Audience: audience,
		ClientID: clientID,
		Scope:    scope,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(time.Hour).Unix(),
		ID:       fmt.Sprintf("jti-%d-%d", n, now.UnixNano()),
	}
}

// sign returns a compact JWS of payload with header alg, kid and typ (no
// typ when empty). It panics on an encoding or signing failure, which only
// a broken test setup can cause.
func sign(s *signer, kid, typ string, payload any) string {
	h := map[string]string{"alg": s.alg, "kid": kid}
	if typ != "" {
		h["typ"] = typ
	}
	hj, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	pj, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	input := b64.EncodeToString(hj) + "." + b64.EncodeToString(pj)
	return input + "." + b64.EncodeToString(signature(s, input))
}

// signature is the JWS signature of input with s (ECDSA as r||s). It
// panics on a signing failure, which only a broken test setup can cause.
func signature(s *signer, input string) []byte {
	var sig []byte
	var err error
	switch k := s.key.(type) {
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case *ecdsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, k, d[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		err = fmt.Errorf("no signature with a %T", s.key)
	}
	if err != nil {
		panic(err)
	}
	return sig
}

// token returns a good at+jwt token numbered n, signed with alg.
func (is *issuer) token(alg string, n int) string {
	s := is.signers[alg]
	return sign(s, s.kid, "at+jwt", is.validClaims(n))
}

// pool returns n distinct good tokens signed with alg, signed on every core.
func (is *issuer) pool(alg string, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i] = is.token(alg, i)
			}
		})
	}
	wg.Wait()
	return out
}

// fixture is shared by every benchmark and test of a process: generating
// 4096 RS256 tokens takes seconds, and -count=6 reruns each benchmark six
// times in the same process.
type fixture struct {
	is     *issuer
	tokens map[string][]string // by alg; tokens[alg][0] is the "same" token
}

var (
	fixtureOnce sync.Once
	shared      *fixture
)

func getFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() {
		f := &fixture{is: newIssuer(tb), tokens: map[string][]string{}}
		for _, alg := range algs {
			f.tokens[alg] = f.is.pool(alg, poolSize)
		}
		shared = f
	})
	if shared == nil {
		tb.Fatal("fixture setup failed earlier")
	}
	return shared
}

// cpuMeter reports the process's CPU time per operation as the metric
// cpu-ns/op. On this shared two-core machine, wall time (ns/op) grows with
// whatever else runs; CPU time does much less, so the two together tell a
// slow run from a slow library. In parallel benchmarks it is the CPU of
// every core per operation (about twice ns/op on two idle cores).
type cpuMeter struct {
	start time.Duration
}

func startCPU() cpuMeter { return cpuMeter{start: cpuTime()} }

// report records the CPU time since start over n operations.
func (m cpuMeter) report(b *testing.B, n int) {
	if n > 0 {
		b.ReportMetric(float64(cpuTime()-m.start)/float64(n), "cpu-ns/op")
	}
}
