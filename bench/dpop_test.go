package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyway-go/keyway/middleware"
)

// DPoP (RFC 9449) through Keyway's handler.
//
// A DPoP request carries an access token bound to the client's key
// (cnf.jkt) and a proof: a small JWT signed by that key for this request
// (method, URL, time, the token's hash) with a jti of its own. Keyway's
// verified-token cache answers for the token after its first request, as
// it does for a Bearer token; the proof is new every time (a proof used
// twice is refused), so each request parses it, checks it against the
// request and the token, verifies its signature with the key it carries,
// and records its jti in the replay cache. BenchmarkDPoP measures that
// path next to the Bearer one and next to the raw-crypto floor of the one
// signature a proof adds. None of the peer libraries of this module
// validates DPoP proofs, so there is no peer column.

// dpopAlgs are the proof algorithms benchmarked.
var dpopAlgs = []string{"ES256", "EdDSA"}

const (
	// dpopPath is the path of the benchmarked requests and dpopHTU their
	// URL as the handler sees it (httptest.NewRequest's host, no TLS).
	dpopPath = "/me"
	dpopHTU  = "http://example.com" + dpopPath
	// dpopTokenAlg signs the access tokens. The verified-token cache
	// answers for them, so the algorithm makes no difference.
	dpopTokenAlg = "ES256"
	// dpopFloorPool is the number of proofs the floor cycles through.
	dpopFloorPool = 1024
)

// dpopClient holds a proof key: it makes proofs, and its thumbprint is
// what tokens are bound to.
type dpopClient struct {
	s   *signer
	jwk json.RawMessage // the public JWK, as go-jose writes it
	jkt string          // its RFC 7638 thumbprint, base64url, as go-jose computes it
}

func newDPoPClient(tb testing.TB, alg string) *dpopClient {
	tb.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("no DPoP client for %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: key.Public()}
	jwk, err := pub.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	return &dpopClient{s: &signer{alg: alg, key: key}, jwk: jwk, jkt: b64.EncodeToString(tp)}
}

// proofHeader and proofClaims are what a client puts in a proof for a
// request without a nonce (RFC 9449 §4.2).
type proofHeader struct {
	Typ string          `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
}

type proofClaims struct {
	JTI string `json:"jti"`
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	IAT int64  `json:"iat"`
	ATH string `json:"ath"`
}

// proof returns a new proof for a GET of dpopHTU with token, made now,
// its jti 16 random bytes. It panics on an encoding failure, which only a
// broken test setup can cause.
func (c *dpopClient) proof(token string) string {
	jti := make([]byte, 16)
	rand.Read(jti)
	ath := sha256.Sum256([]byte(token))
	hj, err := json.Marshal(proofHeader{Typ: "dpop+jwt", Alg: c.s.alg, JWK: c.jwk})
	if err != nil {
		panic(err)
	}
	pj, err := json.Marshal(proofClaims{
		JTI: b64.EncodeToString(jti),
		HTM: http.MethodGet,
		HTU: dpopHTU,
		IAT: time.Now().Unix(),
		ATH: b64.EncodeToString(ath[:]),
	})
	if err != nil {
		panic(err)
	}
	input := b64.EncodeToString(hj) + "." + b64.EncodeToString(pj)
	return input + "." + b64.EncodeToString(signature(c.s, input))
}

// proofs returns n new proofs for token, made on every core.
func (c *dpopClient) proofs(token string, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i] = c.proof(token)
			}
		})
	}
	wg.Wait()
	return out
}

// boundClaims are an access token's claims with the confirmation of the
// key it is bound to (RFC 9449 §6.1).
type boundClaims struct {
	claims
	Cnf struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// dpopFixture is shared by the DPoP benchmarks and tests of a process.
type dpopFixture struct {
	is      *issuer
	bearer  string                 // an access token bound to no key
	clients map[string]*dpopClient // by proof alg
	bound   map[string]string      // by proof alg: an access token bound to that client's key
	floor   map[string][]string    // by proof alg: dpopFloorPool proofs for the floor
}

var (
	dpopOnce   sync.Once
	dpopShared *dpopFixture
)

func getDPoPFixture(tb testing.TB) *dpopFixture {
	tb.Helper()
	is := getFixture(tb).is
	dpopOnce.Do(func() {
		s := is.signers[dpopTokenAlg]
		f := &dpopFixture{
			is:      is,
			bearer:  sign(s, s.kid, "at+jwt", is.validClaims(1)),
			clients: map[string]*dpopClient{},
			bound:   map[string]string{},
			floor:   map[string][]string{},
		}
		for _, alg := range dpopAlgs {
			c := newDPoPClient(tb, alg)
			bc := boundClaims{claims: is.validClaims(1)}
			bc.Cnf.JKT = c.jkt
			f.clients[alg] = c
			f.bound[alg] = sign(s, s.kid, "at+jwt", bc)
			f.floor[alg] = c.proofs(f.bound[alg], dpopFloorPool)
		}
		dpopShared = f
	})
	if dpopShared == nil {
		tb.Fatal("DPoP fixture setup failed earlier")
	}
	return dpopShared
}

// newDPoPValidator is Keyway's Validator in its default configuration
// (DPoP-bound tokens accepted beside Bearer ones, the verified-token cache
// on) with an in-memory replay cache of replaySize proofs (0: the
// default) and hooks. The caller closes it.
func newDPoPValidator(tb testing.TB, is *issuer, replaySize int, hooks middleware.Hooks) *middleware.Validator {
	tb.Helper()
	cfg := keywayConfig(is, 0)
	cfg.DPoP.ReplayCacheSize = replaySize
	cfg.Hooks = hooks
	v, err := middleware.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// dpopRequest is a GET of dpopPath with "Authorization: scheme token" and,
// when proof is not empty, a DPoP header.
func dpopRequest(scheme, token, proof string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, dpopPath, nil)
	r.Header.Set("Authorization", scheme+" "+token)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

// BenchmarkDPoP serves requests through Keyway's Validator.Handler with
// an access token its verified-token cache already holds:
//
//   - path=bearer: the token with the Bearer scheme, the same request
//     every time (as in BenchmarkHandler);
//   - proof=…/path=dpop: a token bound to the client's key with the DPoP
//     scheme and a new proof in every request, signed ES256 or EdDSA. The
//     proofs are made before the timer starts, each with its own jti, and
//     put in the DPoP header of the one request in turn (a store of a
//     string). Each batch of b.N requests gets a Validator of its own whose
//     replay cache holds b.N+1 proofs, so it is never full: a full cache
//     refuses with 503, which the status check would turn into a failure,
//     not a figure;
//   - proof=…/path=floor: the standard library's check of one proof
//     signature over the proof's signing input (sha256 + ecdsa.VerifyASN1,
//     or ed25519.Verify), the key at hand and the signature decoded
//     beforehand, as lib=floor of BenchmarkVerify.
func BenchmarkDPoP(b *testing.B) {
	f := getDPoPFixture(b)
	b.Run("path=bearer", func(b *testing.B) {
		v := newDPoPValidator(b, f.is, 0, middleware.Hooks{})
		defer v.Close()
		r := dpopRequest("Bearer", f.bearer, "")
		serveEach(b, v.Handler(noContent), r, func(int) {})
	})
	for _, alg := range dpopAlgs {
		c, tok := f.clients[alg], f.bound[alg]
		b.Run("proof="+alg+"/path=dpop", func(b *testing.B) {
			v := newDPoPValidator(b, f.is, b.N+1, middleware.Hooks{})
			defer v.Close()
			proofs := c.proofs(tok, b.N+1)
			r := dpopRequest("DPoP", tok, proofs[0])
			header := r.Header["Dpop"]
			serveEach(b, v.Handler(noContent), r, func(i int) { header[0] = proofs[i+1] })
		})
		b.Run("proof="+alg+"/path=floor", func(b *testing.B) {
			floor := signatureFloor(b, c.s.key.Public(), alg, floorTokens(b, alg, f.floor[alg]))
			b.ReportAllocs()
			i, n := 0, 0
			cpu := startCPU()
			for b.Loop() {
				if err := floor(i); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % dpopFloorPool
				n++
			}
			cpu.report(b, n)
		})
	}
}

// serveEach serves r through h once untimed (the warm-up: the key set
// fetched, the token verified into the cache, the first proof used), then
// b.N times timed, calling next(i) before the i-th, each time requiring
// the 204 of noContent.
func serveEach(b *testing.B, h http.Handler, r *http.Request, next func(i int)) {
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.status != http.StatusNoContent {
		b.Fatalf("warm-up: status %d, %s", w.status, w.h.Get("WWW-Authenticate"))
	}
	runtime.GC() // not the garbage of making the proofs
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := range b.N {
		next(i)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusNoContent {
			b.Fatalf("request %d: status %d, %s", i, w.status, w.h.Get("WWW-Authenticate"))
		}
	}
	cpu.report(b, b.N)
}

// TestDPoPPath checks the premises of BenchmarkDPoP for each proof
// algorithm, on a Validator set up as in a batch of n requests: the n+1
// proofs (warm-up included) are all accepted, the verified-token cache
// answers for the token from the second request on, and the path measured
// is the one that checks the proof: a replayed proof, a proof with a bad
// signature, a proof of another key, no proof, or the bound token as a
// Bearer one are refused, and one proof more than the replay cache holds
// gets 503 (which is why each batch gets a cache of b.N+1).
func TestDPoPPath(t *testing.T) {
	f := getDPoPFixture(t)
	for i, alg := range dpopAlgs {
		other := f.clients[dpopAlgs[(i+1)%len(dpopAlgs)]]
		t.Run("proof="+alg, func(t *testing.T) {
			t.Parallel()
			c, tok := f.clients[alg], f.bound[alg]
			const n = 8
			var hits, misses atomic.Int64
			v := newDPoPValidator(t, f.is, n+1, middleware.Hooks{Verified: func(hit bool, err error) {
				switch {
				case err != nil:
				case hit:
					hits.Add(1)
				default:
					misses.Add(1)
				}
			}})
			t.Cleanup(func() { v.Close() })
			h := v.Handler(noContent)
			proofs := c.proofs(tok, n+1)
			for i, p := range proofs {
				if w := serveOnce(h, dpopRequest("DPoP", tok, p)); w.Code != http.StatusNoContent {
					t.Fatalf("proof %d: status %d, %s", i, w.Code, w.Header().Get("WWW-Authenticate"))
				}
			}
			if misses.Load() != 1 || hits.Load() != n {
				t.Fatalf("token cache: %d misses, %d hits; want 1 and %d", misses.Load(), hits.Load(), n)
			}
			refusals := []struct {
				name   string
				r      *http.Request
				status int
				error  string // in WWW-Authenticate
			}{
				{"replayed proof", dpopRequest("DPoP", tok, proofs[n/2]), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
				{"bad signature", dpopRequest("DPoP", tok, tamper(c.proof(tok))), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
				{"proof of another key", dpopRequest("DPoP", tok, other.proof(tok)), http.StatusUnauthorized, `error="invalid_token"`},
				{"no proof", dpopRequest("DPoP", tok, ""), http.StatusUnauthorized, `error="invalid_dpop_proof"`},
				{"bound token as Bearer", dpopRequest("Bearer", tok, ""), http.StatusUnauthorized, `error="invalid_token"`},
				{"replay cache full", dpopRequest("DPoP", tok, c.proof(tok)), http.StatusServiceUnavailable, ""},
			}
			for _, tc := range refusals {
				w := serveOnce(h, tc.r)
				challenge := strings.Join(w.Header().Values("WWW-Authenticate"), ", ")
				if w.Code != tc.status || !strings.Contains(challenge, tc.error) {
					t.Errorf("%s: status %d, %q; want %d with %s", tc.name, w.Code, challenge, tc.status, tc.error)
				}
			}
			if w := serveOnce(h, dpopRequest("Bearer", f.bearer, "")); w.Code != http.StatusNoContent {
				t.Errorf("bearer token: status %d", w.Code)
			}
		})
	}
}

// TestDPoPFloor checks that the floor of BenchmarkDPoP verifies: it
// accepts every proof of its pool and refuses one with a bad signature.
func TestDPoPFloor(t *testing.T) {
	f := getDPoPFixture(t)
	for _, alg := range dpopAlgs {
		t.Run("proof="+alg, func(t *testing.T) {
			pub := f.clients[alg].s.key.Public()
			floor := signatureFloor(t, pub, alg, floorTokens(t, alg, f.floor[alg]))
			for i := range dpopFloorPool {
				if err := floor(i); err != nil {
					t.Fatalf("proof %d: %v", i, err)
				}
			}
			bad := signatureFloor(t, pub, alg, floorTokens(t, alg, []string{tamper(f.floor[alg][0])}))
			if bad(0) == nil {
				t.Fatal("accepted a proof with a bad signature")
			}
		})
	}
}

// serveOnce serves r through h into a recorder.
func serveOnce(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
