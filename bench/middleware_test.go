package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/middleware"
)

// Keyway's verified-token cache and the "fresh" pattern.
//
// The fresh pattern cycles through poolSize (4096) distinct tokens, so a
// token comes back every 4096 requests. Keyway's default cache holds
// 10,000 tokens and would answer every request after the first lap, so for
// this pattern Keyway runs with CacheSize freshCacheSize (256): the cache
// stays on, and each request pays what a never-seen token costs in
// production, lookup miss, full verification, insertion and the eviction
// of a full shard (16 entries, the eviction sample is 8), yet no token
// survives the 4095 insertions before it comes back (TestFreshPatternMisses
// checks that the cache answers none). keyway-nocache is the same with the
// cache off, to show what the cache costs a miss. The peers have no
// verified-token cache at all.
const freshCacheSize = 256

type pattern struct {
	name     string
	fresh    bool // cycle through the pool; otherwise repeat tokens[0]
	parallel bool // b.RunParallel on every core
}

var patterns = []pattern{
	{name: "fresh", fresh: true},
	{name: "same"},
	{name: "fresh-parallel", fresh: true, parallel: true},
	{name: "same-parallel", parallel: true},
}

// verifyLibs are the libraries for one algorithm, built once per process.
type verifyLibs struct {
	floor         func(i int) error
	keywayFresh   *lib // CacheSize freshCacheSize
	keywaySame    *lib // the default configuration
	keywayNoCache *lib // CacheSize -1
	peers         []*lib
}

var (
	libsMu    sync.Mutex
	libsByAlg = map[string]*verifyLibs{}
)

func libsFor(tb testing.TB, f *fixture, alg string) *verifyLibs {
	tb.Helper()
	libsMu.Lock()
	defer libsMu.Unlock()
	if l, ok := libsByAlg[alg]; ok {
		return l
	}
	is := f.is
	l := &verifyLibs{
		floor:         newFloor(tb, is, alg, f.tokens[alg]),
		keywayFresh:   newKeyway(tb, "keyway", keywayConfig(is, freshCacheSize)),
		keywaySame:    newKeyway(tb, "keyway", keywayConfig(is, 0)),
		keywayNoCache: newKeyway(tb, "keyway-nocache", keywayConfig(is, -1)),
		peers: []*lib{
			newGolangJWT(tb, is, alg),
			newAuth0(tb, is, alg),
			newGoOIDC(tb, is, alg),
			newJWX(tb, is),
		},
	}
	// Every library fetches its key set before it is timed.
	for _, x := range append([]*lib{l.keywayFresh, l.keywaySame, l.keywayNoCache}, l.peers...) {
		if _, err := x.verify(context.Background(), f.tokens[alg][0]); err != nil {
			tb.Fatalf("%s %s: warm-up: %v", x.name, alg, err)
		}
	}
	libsByAlg[alg] = l
	return l
}

// BenchmarkVerify compares token verification, without HTTP:
// alg × lib × pattern. lib=floor is the bare signature check.
//
// To keep a -count=6 run near ten minutes on two cores, not every
// combination runs (see selected): the parallel patterns run for RS256
// only; the floor, whose cost does not depend on the pattern, runs in the
// fresh patterns only; same-parallel runs for Keyway only, the one library
// whose cost the pattern changes.
func BenchmarkVerify(b *testing.B) {
	f := getFixture(b)
	for _, alg := range algs {
		l := libsFor(b, f, alg)
		tokens := f.tokens[alg]
		for _, p := range patterns {
			keyway := l.keywaySame
			if p.fresh {
				keyway = l.keywayFresh
			}
			ops := []namedOp{
				{"floor", l.floor},
				{keyway.name, tokenOp(keyway, tokens)},
				{l.keywayNoCache.name, tokenOp(l.keywayNoCache, tokens)},
			}
			for _, x := range l.peers {
				ops = append(ops, namedOp{x.name, tokenOp(x, tokens)})
			}
			for _, o := range ops {
				if !selected(alg, o.name, p) {
					continue
				}
				b.Run(fmt.Sprintf("alg=%s/lib=%s/pattern=%s", alg, o.name, p.name), func(b *testing.B) {
					runOp(b, p, o.op)
				})
			}
		}
	}
}

// selected reports whether BenchmarkVerify runs lib in pattern p for alg.
func selected(alg, lib string, p pattern) bool {
	switch {
	case p.parallel && alg != "RS256":
		return false
	case lib == "floor":
		return p.fresh
	case lib == "keyway-nocache":
		return p.fresh && !p.parallel
	case p.parallel && !p.fresh:
		return lib == "keyway"
	}
	return true
}

// namedOp is one benchmarked operation on the token numbered i.
type namedOp struct {
	name string
	op   func(i int) error
}

// tokenOp verifies token i of tokens with x.
func tokenOp(x *lib, tokens []string) func(i int) error {
	ctx := context.Background()
	return func(i int) error {
		_, err := x.verify(ctx, tokens[i])
		return err
	}
}

// runOp times op over the pool (fresh) or on token 0 (same).
func runOp(b *testing.B, p pattern, op func(i int) error) {
	b.ReportAllocs()
	if !p.parallel {
		i, n := 0, 0
		cpu := startCPU()
		for b.Loop() {
			if err := op(i); err != nil {
				b.Fatal(err)
			}
			if p.fresh {
				i = (i + 1) % poolSize
			}
			n++
		}
		cpu.report(b, n)
		return
	}
	var next atomic.Int64
	var failed atomic.Pointer[error]
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine walks its own stride of the pool.
		i := int(next.Add(1)*997) % poolSize
		for pb.Next() {
			if err := op(i); err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			if p.fresh {
				i = (i + 1) % poolSize
			}
		}
	})
	cpu.report(b, b.N)
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

// discardWriter is a ResponseWriter that keeps only the status, so that
// BenchmarkHandler measures the middleware and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// noContent is the protected handler: it answers 204 and does nothing else.
var noContent = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
})

// BenchmarkHandler serves the same token again and again through each
// library's middleware (ServeHTTP), the request built once. Keyway runs
// with its default configuration, so after the first request its
// verified-token cache answers.
func BenchmarkHandler(b *testing.B) {
	f := getFixture(b)
	for _, alg := range algs[:1] { // RS256; Keyway's cache hit does not depend on the algorithm
		l := libsFor(b, f, alg)
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("Authorization", "Bearer "+f.tokens[alg][0])
		for _, x := range append([]*lib{l.keywaySame}, l.peers...) {
			h := x.handler(noContent)
			b.Run(fmt.Sprintf("alg=%s/lib=%s/pattern=same", alg, x.name), func(b *testing.B) {
				b.ReportAllocs()
				w := &discardWriter{h: http.Header{}}
				n, cpu := 0, startCPU()
				for b.Loop() {
					w.status = 0
					h.ServeHTTP(w, r)
					if w.status != http.StatusNoContent {
						b.Fatalf("status %d", w.status)
					}
					n++
				}
				cpu.report(b, n)
			})
		}
	}
}

// TestFreshPatternMisses checks the premise of the fresh pattern: with
// CacheSize freshCacheSize, Keyway's cache answers none of the pool's
// tokens on the second and third lap.
func TestFreshPatternMisses(t *testing.T) {
	f := getFixture(t)
	alg := "EdDSA" // the cheapest to verify; the cache does not depend on it
	var hits, misses atomic.Int64
	cfg := keywayConfig(f.is, freshCacheSize)
	cfg.Hooks.Verified = func(hit bool, err error) {
		if err != nil {
			t.Errorf("verify: %v", err)
		}
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}
	kw := newKeyway(t, "keyway", cfg)
	tokens := f.tokens[alg]
	for lap := range 3 {
		for _, tok := range tokens {
			kw.verify(context.Background(), tok)
		}
		if lap == 0 {
			hits.Store(0)
			misses.Store(0)
		}
	}
	if hits.Load() != 0 || misses.Load() != 2*poolSize {
		t.Fatalf("laps 2 and 3: %d cache hits, %d misses; want 0 and %d", hits.Load(), misses.Load(), 2*poolSize)
	}
}

// TestChecks is the evidence that the libraries do comparable work: each
// must accept a good token and refuse one with a bad signature, a key the
// issuer never published, a wrong issuer, a wrong audience or a past exp.
// The other checks are Keyway's; a peer that skips one is reported in the
// table logged at the end, not failed. Keyway must make them all.
func TestChecks(t *testing.T) {
	f := getFixture(t)
	is := f.is
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		name     string
		edit     func(*claims)
		typ      string
		token    func(tok string) string // applied to the signed token
		required bool                    // a check every library must make
	}
	checks := []check{
		{name: "good", required: true},
		{name: "bad signature", token: tamper, required: true},
		{name: "unpublished key", required: true},
		{name: "wrong iss", edit: func(c *claims) { c.Issuer = "https://evil.example" }, required: true},
		{name: "wrong aud", edit: func(c *claims) { c.Audience = "https://other.example" }, required: true},
		{name: "expired", edit: func(c *claims) { c.Expiry = time.Now().Add(-time.Hour).Unix() }, required: true},
		{name: "no exp", edit: func(c *claims) { c.Expiry = 0 }},
		{name: "iat in future", edit: func(c *claims) { c.IssuedAt = time.Now().Add(time.Hour).Unix() }},
		{name: "typ JWT", typ: "JWT"},
		{name: "no typ", typ: "-"},
	}
	var names []string
	skipped := map[string][]string{} // check name → libs accepting it
	for _, alg := range algs {
		s := is.signers[alg]
		l := libsFor(t, f, alg)
		all := append([]*lib{l.keywaySame}, l.peers...)
		for _, c := range checks {
			cl := is.validClaims(1)
			if c.edit != nil {
				c.edit(&cl)
			}
			typ := "at+jwt"
			switch c.typ {
			case "-":
				typ = ""
			case "":
			default:
				typ = c.typ
			}
			signWith := s
			if c.name == "unpublished key" {
				// The published kid, a key of the right type and alg that
				// the issuer does not have.
				signWith = &signer{alg: alg, key: attackerKey(t, alg, attacker)}
			}
			tok := sign(signWith, s.kid, typ, cl)
			if c.token != nil {
				tok = c.token(tok)
			}
			for _, x := range all {
				if alg == algs[0] && c.name == "good" {
					names = append(names, x.name)
				}
				t.Run(fmt.Sprintf("alg=%s/lib=%s/%s", alg, x.name, c.name), func(t *testing.T) {
					_, err := x.verify(context.Background(), tok)
					wantOK := c.name == "good"
					switch {
					case wantOK && err != nil:
						t.Fatalf("refused a good token: %v", err)
					case !wantOK && err == nil && (c.required || x.name == "keyway"):
						t.Fatalf("accepted a token with %s", c.name)
					case !wantOK && err == nil:
						key := c.name
						if !slices.Contains(skipped[key], x.name) {
							skipped[key] = append(skipped[key], x.name)
						}
					}
				})
			}
		}
	}
	t.Logf("%-16s %s", "token", names)
	for _, c := range checks[1:] {
		row := make([]string, len(names))
		for i, n := range names {
			row[i] = "refused"
			if slices.Contains(skipped[c.name], n) {
				row[i] = "ACCEPTED"
			}
		}
		t.Logf("%-16s %s", c.name, row)
	}
}

// attackerKey returns a key of alg's type that the issuer never published.
func attackerKey(t *testing.T, alg string, ec *ecdsa.PrivateKey) crypto.Signer {
	t.Helper()
	switch alg {
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return ec
}

// tamper flips a bit in the middle of the signature.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 20
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// floodResult is what an unknown-kid flood did to a library.
type floodResult struct {
	fetches       int64 // key-set fetches during the flood
	floodAccepted int   // unknown-kid tokens let through
	validN        int   // valid requests sent
	validRefused  int
	validSum      time.Duration
	validMax      time.Duration // the slowest valid request
	took          time.Duration // the whole flood
}

// flood sends 1,000 tokens with random kids (signed by a key the issuer
// never published, claims otherwise valid) interleaved with 1,000 valid
// tokens, from 16 goroutines, through h. Each request has a 2 s deadline.
func flood(t *testing.T, is *issuer, h http.Handler, valid []string) floodResult {
	t.Helper()
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	type req struct {
		token string
		valid bool
	}
	reqs := make([]req, 0, 2*n)
	for i := range n {
		kid := make([]byte, 8)
		rand.Read(kid)
		bad := sign(&signer{alg: "ES256", key: attacker}, hex.EncodeToString(kid), "at+jwt", is.validClaims(100000+i))
		reqs = append(reqs, req{bad, false}, req{valid[i%len(valid)], true})
	}
	before := is.fetches.Load()
	var res floodResult
	var mu sync.Mutex
	work := make(chan req)
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for q := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r := httptest.NewRequest(http.MethodGet, "/me", nil).WithContext(ctx)
				r.Header.Set("Authorization", "Bearer "+q.token)
				w := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(w, r)
				d := time.Since(t0)
				cancel()
				mu.Lock()
				switch {
				case q.valid:
					res.validN++
					res.validSum += d
					res.validMax = max(res.validMax, d)
					if w.Code != http.StatusNoContent {
						res.validRefused++
					}
				case w.Code == http.StatusNoContent:
					res.floodAccepted++
				}
				mu.Unlock()
			}
		})
	}
	for _, q := range reqs {
		work <- q
	}
	close(work)
	wg.Wait()
	res.took = time.Since(start)
	res.fetches = is.fetches.Load() - before
	return res
}

// TestUnknownKidFlood: 1,000 tokens with unknown kids cause at most 2 key-set
// fetches (Keyway refetches for an unknown kid at most once per
// MinRefreshInterval, one minute by default), and the valid tokens sent
// among them all pass.
func TestUnknownKidFlood(t *testing.T) {
	is := newIssuer(t)
	defer is.srv.Close()
	kw := newKeyway(t, "keyway", keywayConfig(is, 0))
	valid := is.pool("ES256", 100)
	if _, err := kw.verify(context.Background(), valid[0]); err != nil {
		t.Fatal(err)
	}
	res := flood(t, is, kw.handler(noContent), valid)
	t.Logf("keyway: %d JWKS fetches during the flood (%d before it); valid requests: %d, mean %v, slowest %v; flood took %v",
		res.fetches, is.fetches.Load()-res.fetches, res.validN, res.validSum/time.Duration(res.validN), res.validMax, res.took.Round(time.Millisecond))
	if res.fetches > 2 {
		t.Errorf("%d JWKS fetches during the flood, want at most 2", res.fetches)
	}
	if res.floodAccepted != 0 {
		t.Errorf("%d unknown-kid tokens accepted", res.floodAccepted)
	}
	if res.validRefused != 0 {
		t.Errorf("%d of %d valid tokens refused during the flood", res.validRefused, res.validN)
	}
}

// TestUnknownKidFloodPeers runs the same flood against the peers and only
// reports what it did (their policies are theirs; nothing is asserted but
// that no unknown-kid token passes).
func TestUnknownKidFloodPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("informative only")
	}
	for _, name := range []string{"golang-jwt", "auth0", "go-oidc", "jwx"} {
		t.Run("lib="+name, func(t *testing.T) {
			is := newIssuer(t)
			defer is.srv.Close()
			var x *lib
			switch name {
			case "golang-jwt":
				x = newGolangJWT(t, is, "ES256")
			case "auth0":
				x = newAuth0(t, is, "ES256")
			case "go-oidc":
				x = newGoOIDC(t, is, "ES256")
			case "jwx":
				x = newJWX(t, is)
			}
			valid := is.pool("ES256", 100)
			if _, err := x.verify(context.Background(), valid[0]); err != nil {
				t.Fatal(err)
			}
			res := flood(t, is, x.handler(noContent), valid)
			t.Logf("%s: %d JWKS fetches during the flood; valid requests refused: %d of %d, mean %v, slowest %v; flood took %v",
				name, res.fetches, res.validRefused, res.validN, res.validSum/time.Duration(res.validN), res.validMax, res.took.Round(time.Millisecond))
			if res.floodAccepted != 0 {
				t.Errorf("%d unknown-kid tokens accepted", res.floodAccepted)
			}
		})
	}
}

// TestHandlersPassClaims checks that each middleware lets a good token
// through to the handler with its claims, and refuses a missing one.
func TestHandlersPassClaims(t *testing.T) {
	f := getFixture(t)
	l := libsFor(t, f, "ES256")
	for _, x := range append([]*lib{l.keywaySame}, l.peers...) {
		t.Run("lib="+x.name, func(t *testing.T) {
			var got bool
			h := x.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c, ok := middleware.ClaimsFrom(r.Context()); ok {
					got = c.Subject() != "" && slices.Contains(c.Scopes(), "read:messages")
				} else {
					got = r.Context().Value(verifiedKey{}) != nil ||
						r.Context().Value(auth0ContextKey) != nil
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			r := httptest.NewRequest(http.MethodGet, "/me", nil)
			r.Header.Set("Authorization", "Bearer "+f.tokens["ES256"][0])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent || !got {
				t.Fatalf("good token: status %d, claims in context %v", w.Code, got)
			}
			w = httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/me", nil))
			if w.Code != http.StatusUnauthorized && w.Code != http.StatusBadRequest {
				t.Fatalf("no token: status %d, want 401 (auth0: 400)", w.Code)
			}
		})
	}
}
