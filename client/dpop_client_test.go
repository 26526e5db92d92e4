package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/internal/testenv"
)

var dpopKey = sync.OnceValue(func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k })

// dpopASRequest is one request the fake authorization server received.
type dpopASRequest struct {
	path   string
	header http.Header
	form   url.Values
}

// dpopAS is an authorization server whose answers a test scripts.
type dpopAS struct {
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []dpopASRequest
	answer func(n int, r dpopASRequest, w http.ResponseWriter)
}

func newDPoPAS(t testing.TB, answer func(n int, r dpopASRequest, w http.ResponseWriter)) *dpopAS {
	t.Helper()
	as := &dpopAS{answer: answer}
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := dpopASRequest{path: r.URL.Path, header: r.Header.Clone(), form: r.PostForm}
		as.mu.Lock()
		n := len(as.reqs)
		as.reqs = append(as.reqs, req)
		as.mu.Unlock()
		as.answer(n, req, w)
	}))
	t.Cleanup(as.srv.Close)
	return as
}

func (as *dpopAS) requests() []dpopASRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]dpopASRequest(nil), as.reqs...)
}

// client returns a private_key_jwt client of as with DPoP (unless dpop is
// nil), clock and edit applied.
func (as *dpopAS) client(t testing.TB, dpop *client.DPoP, clk *clock, edit func(*client.Config)) *client.Client {
	t.Helper()
	u := as.srv.URL
	cfg := client.Config{
		ClientID:   "c",
		AuthMethod: client.AuthPrivateKeyJWT,
		PrivateKey: ecKey(),
		Endpoint: client.Endpoint{
			Issuer: u, AuthURL: u + "/authorize", TokenURL: u + "/token",
			PARURL: u + "/par", RevocationURL: u + "/revoke",
		},
		RedirectURL: redirectURI,
		DPoP:        dpop,
	}
	if clk != nil {
		cfg.Now = clk.Now
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

func writeTokenJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const dpopToken = `{"access_token":"at","token_type":"DPoP","expires_in":60,"refresh_token":"rt"}`

// nonceServer answers like a server that wants the nonce it issued last:
// a proof without it gets 400 use_dpop_nonce with a new one; every answer
// carries the current nonce.
func nonceServer(t testing.TB) func(n int, r dpopASRequest, w http.ResponseWriter) {
	var mu sync.Mutex
	cur := "n-0"
	return func(n int, r dpopASRequest, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		got, _ := verifyProof(t, r.header.Get("DPoP"), "ES256").claims["nonce"].(string)
		if got != cur {
			w.Header().Set("DPoP-Nonce", cur)
			writeTokenJSON(w, http.StatusBadRequest, `{"error":"use_dpop_nonce","error_description":"nonce required"}`)
			return
		}
		cur = fmt.Sprint("n-", n+1)
		w.Header().Set("DPoP-Nonce", cur)
		writeTokenJSON(w, http.StatusOK, dpopToken)
	}
}

func TestDPoPTokenRequestNonceRetry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	as := newDPoPAS(t, nonceServer(t))
	d := newDPoP(t, dpopKey(), "", nil)
	c := as.client(t, d, clk, nil)
	tok, err := c.Refresh(t.Context(), "rt-0")
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" || tok.AccessToken != "at" {
		t.Fatalf("token %+v", tok.Token)
	}
	reqs := as.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2", len(reqs))
	}
	var jtis, assertions []any
	for i, r := range reqs {
		p := verifyProof(t, r.header.Get("DPoP"), "ES256")
		if p.claims["htm"] != "POST" || p.claims["htu"] != as.srv.URL+"/token" || p.claims["iat"] != float64(clk.Now().Unix()) {
			t.Errorf("request %d: claims %v", i, p.claims)
		}
		if _, ok := p.claims["ath"]; ok {
			t.Errorf("request %d: ath in a token request's proof", i)
		}
		if r.form.Get("refresh_token") != "rt-0" {
			t.Errorf("request %d: form %v", i, r.form)
		}
		jtis = append(jtis, p.claims["jti"])
		assertions = append(assertions, jwtClaims(t, r.form.Get("client_assertion"))["jti"])
	}
	if n := verifyProof(t, reqs[0].header.Get("DPoP"), "ES256").claims["nonce"]; n != nil {
		t.Errorf("first proof has nonce %v", n)
	}
	if n := verifyProof(t, reqs[1].header.Get("DPoP"), "ES256").claims["nonce"]; n != "n-0" {
		t.Errorf("retry's nonce %v, want n-0", n)
	}
	if jtis[0] == jtis[1] || assertions[0] == assertions[1] {
		t.Error("the retry reused a proof or a client assertion")
	}

	// The nonce of the successful answer is used at once.
	if _, err := c.Refresh(t.Context(), "rt"); err != nil {
		t.Fatal(err)
	}
	reqs = as.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d token requests, want 3: the stored nonce was not used", len(reqs))
	}
	if n := verifyProof(t, reqs[2].header.Get("DPoP"), "ES256").claims["nonce"]; n != "n-2" {
		t.Errorf("nonce %v, want the one of the last answer, n-2", n)
	}
}

func TestDPoPTokenRequestRetriesOnce(t *testing.T) {
	t.Parallel()
	refuse := func(code, nonce string) func(int, dpopASRequest, http.ResponseWriter) {
		return func(n int, _ dpopASRequest, w http.ResponseWriter) {
			if nonce != "" {
				w.Header().Set("DPoP-Nonce", fmt.Sprint(nonce, n))
			}
			writeTokenJSON(w, http.StatusBadRequest, `{"error":"`+code+`"}`)
		}
	}
	tests := []struct {
		name   string
		answer func(int, dpopASRequest, http.ResponseWriter)
		dpop   bool
		code   string
		want   int // requests
	}{
		{"keeps asking for a nonce", refuse("use_dpop_nonce", "n-"), true, "use_dpop_nonce", 2},
		{"no DPoP-Nonce header", refuse("use_dpop_nonce", ""), true, "use_dpop_nonce", 1},
		{"unusable DPoP-Nonce header", refuse("use_dpop_nonce", "bad nonce "), true, "use_dpop_nonce", 1},
		{"another error", refuse("invalid_dpop_proof", "n-"), true, "invalid_dpop_proof", 1},
		{"401 use_dpop_nonce", func(n int, _ dpopASRequest, w http.ResponseWriter) {
			w.Header().Set("DPoP-Nonce", "n")
			writeTokenJSON(w, http.StatusUnauthorized, `{"error":"use_dpop_nonce"}`)
		}, true, "use_dpop_nonce", 1},
		{"client without DPoP", refuse("use_dpop_nonce", "n-"), false, "use_dpop_nonce", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newDPoPAS(t, tt.answer)
			var d *client.DPoP
			if tt.dpop {
				d = newDPoP(t, dpopKey(), "", nil)
			}
			_, err := as.client(t, d, nil, nil).Refresh(t.Context(), "rt")
			var te *client.TokenError
			if !errors.As(err, &te) || te.Code != tt.code {
				t.Fatalf("error %v, want a TokenError %s", err, tt.code)
			}
			if te.Header == nil || te.Header.Get("Content-Type") != "application/json" {
				t.Errorf("TokenError.Header %v", te.Header)
			}
			reqs := as.requests()
			if len(reqs) != tt.want {
				t.Fatalf("%d requests, want %d", len(reqs), tt.want)
			}
			if !tt.dpop && reqs[0].header.Get("DPoP") != "" {
				t.Error("a client without DPoP sent a proof")
			}
		})
	}
}

func TestDPoPAuthorizationRequests(t *testing.T) {
	t.Parallel()
	as := newDPoPAS(t, func(n int, r dpopASRequest, w http.ResponseWriter) {
		switch r.path {
		case "/par":
			writeTokenJSON(w, http.StatusCreated, `{"request_uri":"urn:r:1","expires_in":60}`)
		case "/token":
			writeTokenJSON(w, http.StatusOK, dpopToken)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	d := newDPoP(t, dpopKey(), "", nil)

	plain, err := as.client(t, d, nil, nil).AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(plain.URL)
	if got := u.Query().Get("dpop_jkt"); got != d.Thumbprint() {
		t.Errorf("dpop_jkt %q, want the thumbprint %q", got, d.Thumbprint())
	}

	c := as.client(t, d, nil, func(cfg *client.Config) { cfg.UsePAR = true })
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(req.URL)
	if q := u.Query(); len(q) != 2 || q.Get("request_uri") != "urn:r:1" {
		t.Errorf("pushed request's URL %s", req.URL)
	}
	if _, err := c.Exchange(t.Context(), "code", req); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(t.Context(), "rt", "refresh_token"); err != nil {
		t.Fatal(err)
	}
	reqs := as.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want PAR, token and revocation", len(reqs))
	}
	par, token, revoke := reqs[0], reqs[1], reqs[2]
	if par.form.Get("dpop_jkt") != d.Thumbprint() {
		t.Errorf("PAR form %v has no dpop_jkt", par.form)
	}
	for _, r := range []dpopASRequest{par, token} {
		p := verifyProof(t, r.header.Get("DPoP"), "ES256")
		if p.claims["htu"] != as.srv.URL+r.path || p.claims["htm"] != "POST" {
			t.Errorf("%s: proof claims %v", r.path, p.claims)
		}
	}
	if revoke.header.Get("DPoP") != "" {
		t.Error("revocation request carries a proof")
	}

	noDPoP, err := as.client(t, nil, nil, nil).AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(noDPoP.URL, "dpop_jkt") {
		t.Errorf("dpop_jkt without DPoP: %s", noDPoP.URL)
	}
}

func TestDPoPBearerAnswerKept(t *testing.T) {
	t.Parallel()
	as := newDPoPAS(t, func(_ int, _ dpopASRequest, w http.ResponseWriter) {
		writeTokenJSON(w, http.StatusOK, `{"access_token":"at","token_type":"Bearer","expires_in":60}`)
	})
	var logs testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := as.client(t, newDPoP(t, dpopKey(), "", nil), nil, func(cfg *client.Config) { cfg.Logger = logger })
	tok, err := c.Refresh(t.Context(), "rt")
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" {
		t.Fatalf("token type %q", tok.TokenType)
	}
	if !strings.Contains(logs.String(), "not DPoP-bound") || !strings.Contains(logs.String(), "token_type=Bearer") {
		t.Errorf("no debug record of the bearer answer: %q", logs.String())
	}
	// The bearer token still works through HTTPClientFor.
	api := echoAuthorization(t)
	src := c.TokenSource(tok)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL, nil)
	got, err := get(t, c.HTTPClientFor(src), req)
	if err != nil || got != "Bearer at" {
		t.Fatalf("Authorization %q, %v", got, err)
	}
}

func TestDPoPClockIsTheClients(t *testing.T) {
	t.Parallel()
	clk := newClock()
	clk.Advance(-time.Hour)
	as := newDPoPAS(t, func(_ int, _ dpopASRequest, w http.ResponseWriter) { writeTokenJSON(w, http.StatusOK, dpopToken) })
	dpopNow := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	d := newDPoP(t, dpopKey(), "", func() time.Time { return dpopNow })
	if _, err := as.client(t, d, clk, nil).Refresh(t.Context(), "rt"); err != nil {
		t.Fatal(err)
	}
	iat := verifyProof(t, as.requests()[0].header.Get("DPoP"), "ES256").claims["iat"]
	if iat != float64(clk.Now().Unix()) {
		t.Fatalf("iat %v, want Config.Now's %d", iat, clk.Now().Unix())
	}
}
