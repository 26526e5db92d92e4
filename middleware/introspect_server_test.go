package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Credentials of the resource server at the test introspection server,
// with characters that Basic authentication must form-encode.
const (
	introClientID = "api:one"
	introSecret   = "s3 cr/et%"
)

// introServer is an authorization server for the tests: it serves its
// metadata, a key set and an introspection endpoint answering from a
// table of tokens ({"active":false} for the others). Unless handler is
// set, a call without the right client credentials gets 401.
type introServer struct {
	*httptest.Server
	key *ecdsa.PrivateKey

	mu       sync.Mutex
	answers  map[string]string // token → JSON answer
	metadata map[string]any    // nil: the default document
	handler  http.HandlerFunc  // answers /introspect instead, when set
	lastReq  *http.Request     // the last introspection request
	lastForm url.Values        // and its form

	calls     atomic.Int64 // introspection requests
	discovery atomic.Int64 // metadata requests
}

func newIntroServer(t testing.TB) *introServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &introServer{key: key, answers: map[string]string{}}
	mux := http.NewServeMux()
	metadata := func(w http.ResponseWriter, r *http.Request) {
		s.discovery.Add(1)
		s.mu.Lock()
		doc := s.metadata
		s.mu.Unlock()
		if doc == nil {
			doc = map[string]any{
				"issuer":                 s.URL,
				"jwks_uri":               s.URL + "/jwks",
				"introspection_endpoint": s.URL + "/introspect",
			}
		}
		writeJSON(w, doc)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", metadata)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", metadata)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"keys": []any{publicJWK(t, key, "k1", "ES256", "sig")}})
	})
	mux.HandleFunc("POST /introspect", s.introspect)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *introServer) introspect(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	err := r.ParseForm()
	s.mu.Lock()
	s.lastReq, s.lastForm = r, r.PostForm
	h := s.handler
	answer, known := s.answers[r.PostForm.Get("token")]
	s.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if err != nil || !authenticated(r) {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if !known {
		answer = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(answer))
}

// authenticated checks the client credentials, by Basic (form-encoded
// first, RFC 6749 §2.3.1) or in the form, but not both.
func authenticated(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		return err1 == nil && err2 == nil && id == introClientID && secret == introSecret && !r.PostForm.Has("client_secret")
	}
	return r.PostForm.Get("client_id") == introClientID && r.PostForm.Get("client_secret") == introSecret
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// set makes answer the introspection answer for token.
func (s *introServer) set(t testing.TB, token string, answer any) {
	t.Helper()
	b, ok := answer.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(answer); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = string(b)
}

// answerFor returns the answer set for token.
func (s *introServer) answerFor(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers[token]
}

func (s *introServer) setHandler(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

func (s *introServer) setMetadata(doc map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metadata = doc
}

// last returns the last introspection request and its form.
func (s *introServer) last() (*http.Request, url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReq, s.lastForm
}
