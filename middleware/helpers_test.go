package middleware

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"github.com/keyway-go/keyway/internal/testenv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

const testAudience = "https://api.example.com"

// testClock is a settable clock for Config.Now.
type testClock = testenv.Clock

func newTestClock() *testClock { return testenv.NewClock(time.Now().Truncate(time.Second)) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// counters count hook calls.
type counters struct {
	verified, hits, fetches, fetchErrors atomic.Int64
	lastFetchErr                         atomic.Value // errorBox
}

func (n *counters) hooks() Hooks {
	return Hooks{
		Verified: func(hit bool, err error) {
			n.verified.Add(1)
			if hit {
				n.hits.Add(1)
			}
		},
		JWKSFetched: func(_ string, err error) {
			n.fetches.Add(1)
			if err != nil {
				n.fetchErrors.Add(1)
				n.lastFetchErr.Store(errorBox{err})
			}
		},
	}
}

type errorBox struct{ err error }

// lastErr is the error of the last failed fetch, or nil.
func (n *counters) lastErr() error {
	b, _ := n.lastFetchErr.Load().(errorBox)
	return b.err
}

// fixture is a provider and a validator trusting it.
type fixture struct {
	srv   *oidctest.Server
	v     *Validator
	clock *testClock
	n     *counters
}

// newFixture starts an oidctest server and a Validator for it; edit
// changes the Config before New.
func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	return newFixtureFor(t, srv, edit)
}

// newFixtureFor is newFixture with a server of the test's own.
func newFixtureFor(t testing.TB, srv *oidctest.Server, edit func(*Config)) *fixture {
	t.Helper()
	f := &fixture{srv: srv, clock: newTestClock(), n: &counters{}}
	cfg := Config{
		Issuer:    srv.Issuer,
		Audiences: []string{testAudience},
		Now:       f.clock.Now,
		Hooks:     f.n.hooks(),
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	f.v = v
	return f
}

// claims returns the claims of a valid access token at the fixture's time.
func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss":       f.srv.Issuer,
		"sub":       "ada",
		"aud":       testAudience,
		"client_id": "app",
		"scope":     "read write",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(5 * time.Minute).Unix(),
		"jti":       randomString(),
	}
}

// noType as SignOptions.Type makes fixture.sign leave typ out.
const noType = "-"

// sign signs claims as an at+jwt with the server's RS256 key unless opts
// says otherwise.
func (f *fixture) sign(t testing.TB, claims map[string]any, opts oidctest.SignOptions) string {
	t.Helper()
	if opts.Alg == "" {
		opts.Alg = oidctest.RS256
	}
	switch opts.Type {
	case "":
		opts.Type = "at+jwt"
	case noType:
		opts.Type = ""
	}
	tok, err := f.srv.Sign(claims, opts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// token is a valid access token with claims edited by edit.
func (f *fixture) token(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	c := f.claims()
	if edit != nil {
		edit(c)
	}
	return f.sign(t, c, oidctest.SignOptions{})
}

func (f *fixture) jwksFetches() int { return len(f.srv.Requests(oidctest.EndpointJWKS)) }

// rawToken builds a compact JWS from a header, claims and a signature
// without signing anything.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding
	return e.EncodeToString(h) + "." + e.EncodeToString(c) + "." + e.EncodeToString(sig)
}

func randomString() string { return rand.Text() }

// waitFor polls cond every millisecond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// serve runs one request through h and returns the recorder.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// request is a GET of path with an Authorization: Bearer tok header when
// tok is not empty.
func request(path, tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// ownIssuer is an issuer whose keys the test holds: it serves a JWKS the
// test sets, for algorithms and key shapes oidctest does not make.
type ownIssuer struct {
	URL      string
	srv      *httptest.Server
	mu       sync.Mutex
	body     []byte
	header   http.Header
	requests atomic.Int64
}

func newOwnIssuer(t testing.TB) *ownIssuer {
	t.Helper()
	o := &ownIssuer{header: http.Header{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		o.mu.Lock()
		body, h := o.body, o.header.Clone()
		o.mu.Unlock()
		for k, vs := range h {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(o.srv.Close)
	o.URL = o.srv.URL
	return o
}

// setKeys publishes keys (JWK JSON objects) as the key set.
func (o *ownIssuer) setKeys(t testing.TB, keys ...any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	o.setBody(body)
}

func (o *ownIssuer) setBody(body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.body = body
}

func (o *ownIssuer) setHeader(k, v string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.header.Set(k, v)
}

// publicJWK is the public JWK of key with kid, alg and use.
func publicJWK(t testing.TB, key crypto.Signer, kid, alg, use string) jose.JSONWebKey {
	t.Helper()
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: alg, Use: use}
}

// signOwn signs claims with key as alg (any of the algorithms this
// package knows), with header fields added.
func signOwn(t testing.TB, alg string, key crypto.Signer, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "at+jwt"}
	for k, v := range header {
		h[k] = v
	}
	return signJWS(t, alg, key, h, claims)
}

// digest returns the hash h of input, as algorithm.verify computes it.
func digest(h crypto.Hash, input string) []byte {
	return appendDigest(nil, h, []byte(input))
}

// corrupt flips bit i of tok's signature.
func corrupt(tok string, i int) string {
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		panic(err)
	}
	sig[(i/8)%len(sig)] ^= 1 << (i % 8)
	return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}
