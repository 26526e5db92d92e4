package client_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
)

// fakeAS is an authorization server whose endpoints are test handlers,
// for answers oidctest does not give. It records every request, its form
// parsed.
type fakeAS struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []fakeRequest
}

// fakeRequest is one request fakeAS received.
type fakeRequest struct {
	path   string
	form   url.Values
	header http.Header
	time   time.Time
}

// newFakeAS serves routes, keyed by path, on a loopback address.
func newFakeAS(t testing.TB, routes map[string]http.HandlerFunc) *fakeAS {
	t.Helper()
	as := &fakeAS{}
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		as.mu.Lock()
		as.reqs = append(as.reqs, fakeRequest{path: r.URL.Path, form: r.PostForm, header: r.Header.Clone(), time: time.Now()})
		as.mu.Unlock()
		h, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(as.srv.Close)
	return as
}

// endpoint names fakeAS's endpoints: /token and /device.
func (as *fakeAS) endpoint() client.Endpoint {
	return client.Endpoint{Issuer: as.srv.URL, TokenURL: as.srv.URL + "/token", DeviceAuthURL: as.srv.URL + "/device"}
}

// client returns a client_secret_post client of as, with edit applied to
// its Config.
func (as *fakeAS) client(t testing.TB, edit func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{
		ClientID: "app", ClientSecret: "s3cret", AuthMethod: client.AuthClientSecretPost,
		Endpoint: as.endpoint(),
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

// requests returns the requests to path so far.
func (as *fakeAS) requests(path string) []fakeRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []fakeRequest
	for _, r := range as.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// answer returns a handler that writes body as JSON with status.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// sequence returns a handler that answers with the handlers in turn,
// repeating the last one.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

// hangUp is a handler that closes the connection without answering: a
// network error for the client.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

const tokenJSON = `{"access_token":"at","token_type":"Bearer","expires_in":300}`
