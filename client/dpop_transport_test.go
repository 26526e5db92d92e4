package client_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/client"
)

func dpopBound(access, typ string) *client.Token {
	return &client.Token{Token: oauth2.Token{AccessToken: access, TokenType: typ}}
}

// dpopAPIRequest is one request the fake API received.
type dpopAPIRequest struct {
	method, url, auth, proof, body string
}

// dpopAPI is a resource server whose answers a test scripts.
type dpopAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []dpopAPIRequest
	answer func(n int, r dpopAPIRequest, w http.ResponseWriter)
}

func newDPoPAPI(t testing.TB, answer func(n int, r dpopAPIRequest, w http.ResponseWriter)) *dpopAPI {
	t.Helper()
	api := &dpopAPI{answer: answer}
	api.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := dpopAPIRequest{
			method: r.Method, url: "http://" + r.Host + r.URL.RequestURI(),
			auth: r.Header.Get("Authorization"), proof: r.Header.Get("DPoP"), body: string(b),
		}
		api.mu.Lock()
		n := len(api.reqs)
		api.reqs = append(api.reqs, req)
		api.mu.Unlock()
		api.answer(n, req, w)
	}))
	t.Cleanup(api.srv.Close)
	return api
}

func (api *dpopAPI) requests() []dpopAPIRequest {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]dpopAPIRequest(nil), api.reqs...)
}

// askNonce answers 401 with a DPoP use_dpop_nonce challenge and nonce.
func askNonce(w http.ResponseWriter, nonce string) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="api"`)
	w.Header().Add("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	if nonce != "" {
		w.Header().Set("DPoP-Nonce", nonce)
	}
	w.WriteHeader(http.StatusUnauthorized)
}

// wantsNonce is an API that wants the nonce "api-n" in proofs.
func wantsNonce(n int, r dpopAPIRequest, w http.ResponseWriter) {
	if !strings.Contains(r.proof, ".") {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if nonceClaim(r.proof) != "api-n" {
		askNonce(w, "api-n")
		return
	}
	_, _ = io.WriteString(w, "ok:"+r.body)
}

// nonceClaim reads a proof's nonce claim without verifying the proof
// (the tests verify proofs separately); "" if there is none.
func nonceClaim(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Nonce string `json:"nonce"`
	}
	_ = json.Unmarshal(b, &claims)
	return claims.Nonce
}

func TestTransportDPoP(t *testing.T) {
	t.Parallel()
	api := newDPoPAPI(t, func(_ int, r dpopAPIRequest, w http.ResponseWriter) { _, _ = io.WriteString(w, r.auth) })
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	d := newDPoP(t, edKey(), "", func() time.Time { return at })
	for _, typ := range []string{"DPoP", "dpop"} {
		hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: dpopBound("at-1", typ)}, DPoP: d}}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, api.srv.URL+"/items/1?x=y#f", nil)
		got, err := get(t, hc, req)
		if err != nil {
			t.Fatal(err)
		}
		if got != "DPoP at-1" {
			t.Fatalf("Authorization %q", got)
		}
		if req.Header.Get("DPoP") != "" || req.Header.Get("Authorization") != "" {
			t.Fatal("caller's request was modified")
		}
	}
	for _, r := range api.requests() {
		p := verifyProof(t, r.proof, "EdDSA")
		want := map[string]any{"htm": "DELETE", "htu": api.srv.URL + "/items/1", "ath": hashOf("at-1"), "iat": float64(at.Unix())}
		for k, v := range want {
			if p.claims[k] != v {
				t.Errorf("%s = %v, want %v", k, p.claims[k], v)
			}
		}
	}
}

func TestTransportDPoPNonceRetry(t *testing.T) {
	t.Parallel()
	api := newDPoPAPI(t, wantsNonce)
	d := newDPoP(t, dpopKey(), "", nil)
	hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: d}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, api.srv.URL+"/x", strings.NewReader("payload"))
	got, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	if got != "ok:payload" {
		t.Fatalf("answer %q: the retry did not carry the body", got)
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	first, second := verifyProof(t, reqs[0].proof, "ES256"), verifyProof(t, reqs[1].proof, "ES256")
	if first.claims["nonce"] != nil || second.claims["nonce"] != "api-n" || first.claims["jti"] == second.claims["jti"] {
		t.Fatalf("proofs %v then %v", first.claims, second.claims)
	}
	if second.claims["ath"] != hashOf("at") || second.claims["htm"] != "POST" {
		t.Fatalf("retry's claims %v", second.claims)
	}

	// The nonce is remembered: the next request needs no retry.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL+"/y", nil)
	if got, err := get(t, hc, req); err != nil || got != "ok:" {
		t.Fatalf("answer %q, %v", got, err)
	}
	if n := len(api.requests()); n != 3 {
		t.Fatalf("%d requests in all, want 3", n)
	}
}

// onceReader is a request body that cannot be read again.
type onceReader struct{ io.Reader }

func (onceReader) Close() error { return nil }

func TestTransportDPoPNoRetry(t *testing.T) {
	t.Parallel()
	alwaysAsk := func(n int, _ dpopAPIRequest, w http.ResponseWriter) { askNonce(w, fmt.Sprint("n-", n)) }
	tests := []struct {
		name   string
		answer func(int, dpopAPIRequest, http.ResponseWriter)
		body   func() io.Reader
		want   int // requests
	}{
		{"body cannot be replayed", wantsNonce, func() io.Reader { return onceReader{strings.NewReader("payload")} }, 1},
		{"server keeps asking", alwaysAsk, nil, 2},
		{"no DPoP-Nonce header", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) { askNonce(w, "") }, nil, 1},
		{"unusable DPoP-Nonce header", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) { askNonce(w, "a b") }, nil, 1},
		{"another error", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
			w.Header().Set("DPoP-Nonce", "n")
			w.WriteHeader(http.StatusUnauthorized)
		}, nil, 1},
		{"Bearer challenge", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) {
			w.Header().Set("WWW-Authenticate", `Bearer error="use_dpop_nonce"`)
			w.Header().Set("DPoP-Nonce", "n")
			w.WriteHeader(http.StatusUnauthorized)
		}, nil, 1},
		{"malformed challenge", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) {
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce`)
			w.Header().Set("DPoP-Nonce", "n")
			w.WriteHeader(http.StatusUnauthorized)
		}, nil, 1},
		{"403", func(_ int, _ dpopAPIRequest, w http.ResponseWriter) {
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.Header().Set("DPoP-Nonce", "n")
			w.WriteHeader(http.StatusForbidden)
		}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newDPoPAPI(t, tt.answer)
			d := newDPoP(t, dpopKey(), "", nil)
			hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: d}}
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, api.srv.URL, body)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 4 {
				t.Errorf("status %d, want the server's refusal", resp.StatusCode)
			}
			if n := len(api.requests()); n != tt.want {
				t.Fatalf("%d requests, want %d", n, tt.want)
			}
		})
	}
}

// scriptedTransport answers with the responses of answers in turn and
// records the requests.
type scriptedTransport struct {
	answers []*http.Response
	reqs    []*http.Request
}

func (s *scriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	s.reqs = append(s.reqs, req)
	resp := s.answers[0]
	s.answers = s.answers[1:]
	resp.Request = req
	return resp, nil
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func TestTransportDPoPClosesFirstResponse(t *testing.T) {
	t.Parallel()
	first := &trackedBody{Reader: strings.NewReader("nonce, please")}
	h := http.Header{}
	h.Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
	h.Set("DPoP-Nonce", "n-1")
	base := &scriptedTransport{answers: []*http.Response{
		{StatusCode: http.StatusUnauthorized, Header: h, Body: first},
		{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))},
	}}
	tr := &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: newDPoP(t, dpopKey(), "", nil), Base: base}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, "https://api.example/x", bytes.NewReader([]byte("b")))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(base.reqs) != 2 {
		t.Fatalf("status %d after %d requests", resp.StatusCode, len(base.reqs))
	}
	if !first.closed.Load() {
		t.Error("the 401 response's body was not closed")
	}
	if nonceClaim(base.reqs[1].Header.Get("DPoP")) != "n-1" {
		t.Error("the retry's proof lacks the nonce")
	}
}

func TestTransportDPoPNonceFromSuccess(t *testing.T) {
	t.Parallel()
	api := newDPoPAPI(t, func(n int, _ dpopAPIRequest, w http.ResponseWriter) {
		w.Header().Set("DPoP-Nonce", fmt.Sprint("ok-", n))
		w.WriteHeader(http.StatusOK)
	})
	d := newDPoP(t, dpopKey(), "", nil)
	hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: d}}
	for range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL, nil)
		if _, err := get(t, hc, req); err != nil {
			t.Fatal(err)
		}
	}
	reqs := api.requests()
	if nonceClaim(reqs[0].proof) != "" || nonceClaim(reqs[1].proof) != "ok-0" {
		t.Fatalf("nonces %q, %q; want none, then ok-0", nonceClaim(reqs[0].proof), nonceClaim(reqs[1].proof))
	}
}

func TestTransportDPoPBearerUnchanged(t *testing.T) {
	t.Parallel()
	api := newDPoPAPI(t, func(_ int, r dpopAPIRequest, w http.ResponseWriter) { _, _ = io.WriteString(w, r.auth+"|"+r.proof) })
	hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: bearer("at")}, DPoP: newDPoP(t, dpopKey(), "", nil)}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL, nil)
	got, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	if got != "Bearer at|" {
		t.Fatalf("Authorization|DPoP = %q", got)
	}
}

func TestTransportDPoPRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tr   *client.Transport
		url  string
	}{
		{"DPoP token without DPoP", &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, Base: failTransport{t}}, "https://api.example/"},
		{"DPoP over http to a remote host", &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: newDPoP(t, dpopKey(), "", nil), Base: failTransport{t}}, "http://api.example/"},
		{"unusable DPoP", &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: new(client.DPoP), Base: failTransport{t}}, "https://api.example/"},
		{"other token type", &client.Transport{Source: &staticSource{tok: dpopBound("at", "MAC")}, DPoP: newDPoP(t, dpopKey(), "", nil), Base: failTransport{t}}, "https://api.example/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := &trackedBody{Reader: strings.NewReader("x")}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tt.url, body)
			if _, err := tt.tr.RoundTrip(req); err == nil {
				t.Fatal("request succeeded")
			}
			if !body.closed.Load() {
				t.Error("request body not closed")
			}
		})
	}
	tr := &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, Base: failTransport{t}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://api.example/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "Transport.DPoP") {
		t.Errorf("error %v does not say what is missing", err)
	}
}

func TestTransportDPoPRedirects(t *testing.T) {
	t.Parallel()
	other := newDPoPAPI(t, func(_ int, r dpopAPIRequest, w http.ResponseWriter) { _, _ = io.WriteString(w, r.auth+"|"+r.proof) })
	api := newDPoPAPI(t, func(_ int, r dpopAPIRequest, w http.ResponseWriter) {
		switch {
		case strings.HasSuffix(r.url, "/same"):
			w.Header().Set("Location", "/echo")
			w.WriteHeader(http.StatusFound)
		case strings.HasSuffix(r.url, "/cross"):
			w.Header().Set("Location", other.srv.URL+"/echo")
			w.WriteHeader(http.StatusFound)
		default:
			_, _ = io.WriteString(w, r.auth+"|"+r.proof)
		}
	})
	hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: dpopBound("at", "DPoP")}, DPoP: newDPoP(t, dpopKey(), "", nil)}}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL+"/cross", nil)
	if got, err := get(t, hc, req); err != nil || got != "|" {
		t.Errorf("after a cross-origin redirect: %q, %v; want no token, no proof", got, err)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL+"/same", nil)
	got, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	auth, proof, _ := strings.Cut(got, "|")
	if auth != "DPoP at" {
		t.Fatalf("after a same-origin redirect: Authorization %q", auth)
	}
	if htu := verifyProof(t, proof, "ES256").claims["htu"]; htu != api.srv.URL+"/echo" {
		t.Errorf("htu %v after the redirect", htu)
	}
}

func TestHTTPClientForDPoP(t *testing.T) {
	t.Parallel()
	clk := newClock()
	clk.Advance(-2 * time.Hour)
	as := newDPoPAS(t, func(_ int, _ dpopASRequest, w http.ResponseWriter) { writeTokenJSON(w, http.StatusOK, dpopToken) })
	d := newDPoP(t, dpopKey(), "", func() time.Time { return time.Unix(0, 0) })
	c := as.client(t, d, clk, nil)
	tok, err := c.Refresh(t.Context(), "rt")
	if err != nil {
		t.Fatal(err)
	}
	api := newDPoPAPI(t, wantsNonce)
	hc := c.HTTPClientFor(c.TokenSource(tok))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.srv.URL+"/me", nil)
	if got, err := get(t, hc, req); err != nil || got != "ok:" {
		t.Fatalf("answer %q, %v", got, err)
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want a nonce retry", len(reqs))
	}
	p := verifyProof(t, reqs[1].proof, "ES256")
	if reqs[1].auth != "DPoP at" || p.claims["ath"] != hashOf("at") || p.claims["iat"] != float64(clk.Now().Unix()) {
		t.Fatalf("Authorization %q, claims %v", reqs[1].auth, p.claims)
	}
}
