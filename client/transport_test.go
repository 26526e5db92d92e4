package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// staticSource returns one token and counts the contexts it is asked with.
type staticSource struct {
	tok  *client.Token
	err  error
	ctxs []context.Context
}

func (s *staticSource) Token(ctx context.Context) (*client.Token, error) {
	s.ctxs = append(s.ctxs, ctx)
	return s.tok, s.err
}

func bearer(access string) *client.Token {
	return &client.Token{Token: oauth2.Token{AccessToken: access, TokenType: "bearer"}}
}

// echoAuthorization answers with the request's Authorization header.
func echoAuthorization(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, hc *http.Client, req *http.Request) (string, error) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTransportSetsBearer(t *testing.T) {
	t.Parallel()
	srv := echoAuthorization(t)
	src := &staticSource{tok: bearer("at-1")}
	hc := &http.Client{Transport: &client.Transport{Source: src}}
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "v")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Caller", "1")
	got, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	if got != "Bearer at-1" {
		t.Fatalf("Authorization %q", got)
	}
	if req.Header.Get("Authorization") != "" || len(req.Header) != 1 {
		t.Fatalf("caller's request was modified: %v", req.Header)
	}
	if len(src.ctxs) != 1 || src.ctxs[0].Value(key{}) != "v" {
		t.Fatal("source was not asked with the request's context")
	}
}

func TestTransportRefuses(t *testing.T) {
	t.Parallel()
	srv := echoAuthorization(t)
	tests := []struct {
		name string
		tr   *client.Transport
		url  string
	}{
		{"no source", &client.Transport{}, srv.URL},
		{"source error", &client.Transport{Source: &staticSource{err: errors.New("no token")}}, srv.URL},
		{"empty token", &client.Transport{Source: &staticSource{tok: &client.Token{}}}, srv.URL},
		{"DPoP token", &client.Transport{Source: &staticSource{tok: &client.Token{Token: oauth2.Token{AccessToken: "a", TokenType: "DPoP"}}}}, srv.URL},
		{"http to a remote host", &client.Transport{Source: &staticSource{tok: bearer("a")}, Base: failTransport{t}}, "http://api.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tt.url, strings.NewReader("body"))
			if _, err := (&http.Client{Transport: tt.tr}).Do(req); err == nil {
				t.Fatal("request succeeded")
			}
		})
	}
}

// failTransport fails the test if a request reaches it.
type failTransport struct{ t testing.TB }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("request to %s was sent", r.URL)
	return nil, errors.New("unexpected")
}

// recordTransport answers 204 and records the Authorization header.
type recordTransport struct{ got string }

func (r *recordTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req.Header.Get("Authorization")
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: req}, nil
}

func TestTransportInsecureAllowHTTP(t *testing.T) {
	t.Parallel()
	rec := &recordTransport{}
	tr := &client.Transport{Source: &staticSource{tok: bearer("a")}, Base: rec, InsecureAllowHTTP: true}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://api.example/x", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rec.got != "Bearer a" {
		t.Fatalf("Authorization %q", rec.got)
	}
}

func TestTransportRedirects(t *testing.T) {
	t.Parallel()
	other := echoAuthorization(t) // another port: another origin
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Header.Get("Authorization")) })
	mux.Handle("/same", http.RedirectHandler("/echo", http.StatusFound))
	mux.Handle("/cross", http.RedirectHandler(other.URL+"/echo", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &client.Transport{Source: &staticSource{tok: bearer("at")}}}
	for path, want := range map[string]string{"/same": "Bearer at", "/cross": ""} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		got, err := get(t, hc, req)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: Authorization after redirect %q, want %q", path, got, want)
		}
	}
}

func TestHTTPClientFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	hc := c.HTTPClientFor(c.TokenSource(expired(tok, time.Now())))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.Issuer+"/userinfo", nil)
	body, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"sub":"ada"`) {
		t.Fatalf("userinfo %s", body)
	}
	reqs := f.srv.Requests(oidctest.EndpointUserinfo)
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") == "Bearer "+tok.AccessToken {
		t.Fatal("userinfo was not called with the refreshed token")
	}
}
