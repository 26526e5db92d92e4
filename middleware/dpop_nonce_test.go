package middleware

import (
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNonceKey = []byte("0123456789abcdef0123456789abcdef")

// nonceFixture is a fixture whose validator requires nonces.
func nonceFixture(t testing.TB, key []byte) *fixture {
	t.Helper()
	return newFixture(t, func(c *Config) { c.DPoP.NonceKey = key })
}

// TestDPoPNonceFlow: a proof without a nonce is refused with
// use_dpop_nonce and a nonce; the retry with it is served, and the
// response carries a current nonce.
func TestDPoPNonceFlow(t *testing.T) {
	t.Parallel()
	f := nonceFixture(t, testNonceKey)
	c := newDPoPClient(t, "ES256")
	h := f.v.Handler(whoami)
	tok := f.boundToken(t, c.jkt)

	w := serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil)))
	want := []string{"Bearer", `DPoP error="use_dpop_nonce", error_description="the resource server requires a nonce in the DPoP proof", ` + defaultAlgs}
	if got := w.Header().Values("WWW-Authenticate"); w.Code != http.StatusUnauthorized || !slices.Equal(got, want) {
		t.Fatalf("without nonce: %d %q", w.Code, got)
	}
	if code, _ := errorBody(t, w); code != "use_dpop_nonce" {
		t.Errorf("error %q", code)
	}
	nonce := w.Header().Get("DPoP-Nonce")
	if len(nonce) != nonceTextBytes {
		t.Fatalf("DPoP-Nonce %q", nonce)
	}

	w = serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, set("nonce", nonce))))
	if w.Code != http.StatusOK || w.Body.String() != "ada" {
		t.Fatalf("with nonce: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("DPoP-Nonce"); got != nonce {
		t.Errorf("DPoP-Nonce on success %q, want %q", got, nonce)
	}

	// Any refused DPoP request gets one too; a Bearer request does not.
	w = serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, set("htm", "POST"))))
	if w.Code != http.StatusUnauthorized || w.Header().Get("DPoP-Nonce") != nonce {
		t.Errorf("refused DPoP request: %d, nonce %q", w.Code, w.Header().Get("DPoP-Nonce"))
	}
	if w := serve(h, request("/", f.token(t, nil))); w.Code != http.StatusOK || w.Header().Get("DPoP-Nonce") != "" {
		t.Errorf("Bearer request: %d, nonce %q", w.Code, w.Header().Get("DPoP-Nonce"))
	}
}

// TestDPoPNonceRequireAlone: RequireScope and RequireClaims used without
// Handler give an accepted DPoP request a nonce too.
func TestDPoPNonceRequireAlone(t *testing.T) {
	t.Parallel()
	f := nonceFixture(t, testNonceKey)
	c := newDPoPClient(t, "ES256")
	tok := f.boundToken(t, c.jkt)
	h := f.v.RequireClaims(func(*Claims) bool { return true })(whoami)
	w := serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil)))
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != http.StatusUnauthorized || nonce == "" {
		t.Fatalf("without nonce: %d, DPoP-Nonce %q", w.Code, nonce)
	}
	w = serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, set("nonce", nonce))))
	if w.Code != http.StatusOK || w.Header().Get("DPoP-Nonce") != nonce {
		t.Fatalf("with nonce: %d, DPoP-Nonce %q, want 200 and %q", w.Code, w.Header().Get("DPoP-Nonce"), nonce)
	}
}

// TestDPoPNonceWindows: a nonce is accepted in its window and the next,
// then refused as stale with a fresh one.
func TestDPoPNonceWindows(t *testing.T) {
	t.Parallel()
	f := nonceFixture(t, testNonceKey)
	c := newDPoPClient(t, "ES256")
	tok := f.boundToken(t, c.jkt)
	nonce := f.v.dpop.nonces.issue(f.clock.Now())
	check := func(nonce string) error {
		t.Helper()
		_, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, set("nonce", nonce))))
		return err
	}
	if err := check(nonce); err != nil {
		t.Fatalf("current nonce: %v", err)
	}
	f.clock.Advance(DefaultDPoPNonceLifetime)
	if err := check(nonce); err != nil {
		t.Fatalf("previous window's nonce: %v", err)
	}
	f.clock.Advance(DefaultDPoPNonceLifetime)
	if err := check(nonce); !errors.Is(err, errNonceNotValid) || !errors.Is(err, ErrUseDPoPNonce) {
		t.Fatalf("stale nonce: %v", err)
	}
	w := serve(f.v.Handler(whoami), dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, set("nonce", nonce))))
	if fresh := w.Header().Get("DPoP-Nonce"); w.Code != http.StatusUnauthorized || fresh == "" || fresh == nonce {
		t.Errorf("stale nonce: %d, fresh nonce %q", w.Code, fresh)
	}
	if err := check(""); !errors.Is(err, errNonceNotValid) {
		t.Errorf("empty nonce: %v", err)
	}
	_, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil)))
	if !errors.Is(err, errNonceMissing) || !errors.Is(err, ErrUseDPoPNonce) {
		t.Errorf("no nonce: %v", err)
	}
}

// TestDPoPNonceShared: replicas with the same key accept each other's
// nonces; a validator with another key does not.
func TestDPoPNonceShared(t *testing.T) {
	t.Parallel()
	a := nonceFixture(t, testNonceKey)
	b := newFixtureFor(t, a.srv, func(c *Config) { c.DPoP.NonceKey = testNonceKey; c.Now = a.clock.Now })
	other := newFixtureFor(t, a.srv, func(c *Config) { c.DPoP.NonceKey = []byte(strings.Repeat("k", 32)); c.Now = a.clock.Now })
	c := newDPoPClient(t, "ES256")
	tok := a.boundToken(t, c.jkt)
	nonce := a.v.dpop.nonces.issue(a.clock.Now())
	if _, err := b.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, a, tok, set("nonce", nonce)))); err != nil {
		t.Errorf("replica with the same key: %v", err)
	}
	if _, err := other.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, a, tok, set("nonce", nonce)))); !errors.Is(err, errNonceNotValid) {
		t.Errorf("validator with another key: %v", err)
	}
}

func TestNonceSource(t *testing.T) {
	t.Parallel()
	s := newNonceSource(testNonceKey, time.Minute)
	at := time.Unix(1_800_000_000, 0)
	n := s.issue(at)
	tests := []struct {
		name  string
		nonce string
		at    time.Time
		want  bool
	}{
		{"same time", n, at, true},
		{"a window later", n, at.Add(time.Minute), true},
		{"two windows later", n, at.Add(2 * time.Minute), false},
		{"a window earlier", n, at.Add(-time.Minute), false},
		{"one character changed", n[:5] + string(n[5]^1) + n[6:], at, false},
		{"truncated", n[:len(n)-1], at, false},
		{"padded", n + "=", at, false},
		{"empty", "", at, false},
	}
	for _, tc := range tests {
		if got := s.valid(tc.nonce, tc.at); got != tc.want {
			t.Errorf("%s: valid %v, want %v", tc.name, got, tc.want)
		}
	}
	if s.issue(at.Add(time.Minute)) == n {
		t.Error("the next window issues the same nonce")
	}
	// The window is in the nonce: a MAC of another window does not pass
	// for this one.
	raw, err := b64.DecodeString(s.issue(at.Add(-5 * time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(raw[:8], uint64(s.at(at).window))
	if s.valid(b64.EncodeToString(raw), at) {
		t.Error("an old nonce with the window changed is accepted")
	}
}
