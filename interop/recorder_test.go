package interop

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// exchange is one request a recorder or a proxy saw, and its answer.
type exchange struct {
	Method, Path string
	Header       http.Header // the request's
	Status       int         // 0 when the request failed
	RespHeader   http.Header // the response's, nil when it failed
}

// recorder is an http.RoundTripper for the HTTPClient of a Keyway client or
// of discovery: it records every request and answer, and answers 404 itself
// to the paths in NotFound, as a server without them would.
type recorder struct {
	// NotFound are paths answered 404 without being sent.
	NotFound []string

	mu   sync.Mutex
	seen []exchange
}

// client returns an HTTP client with r as its transport.
func (r *recorder) client() *http.Client {
	return &http.Client{Transport: r, Timeout: 10 * time.Second}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	e := exchange{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone()}
	var resp *http.Response
	var err error
	if slices.Contains(r.NotFound, req.URL.Path) {
		if req.Body != nil {
			req.Body.Close()
		}
		resp = &http.Response{
			StatusCode: http.StatusNotFound,
			Status:     "404 Not Found",
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Type": {"text/plain"}},
			Body:    io.NopCloser(strings.NewReader("not found")),
			Request: req,
		}
	} else {
		resp, err = http.DefaultTransport.RoundTrip(req)
	}
	if err == nil {
		e.Status, e.RespHeader = resp.StatusCode, resp.Header.Clone()
	}
	r.mu.Lock()
	r.seen = append(r.seen, e)
	r.mu.Unlock()
	return resp, err
}

// exchanges returns what r saw, in order.
func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// paths returns the paths of the requests r saw, in order.
func (r *recorder) paths() []string {
	var paths []string
	for _, e := range r.exchanges() {
		paths = append(paths, e.Path)
	}
	return paths
}

// startRecordingProxy starts a reverse proxy to target that records each
// request it forwards. It keeps the Host header of the request, so that the
// URL a DPoP proof names (htu, the proxy's) is the one the API behind it
// rebuilds from the request. It returns the proxy's base URL.
func startRecordingProxy(t testing.TB, target string) (proxyURL string, rec *recorder) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: rec,
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL, rec
}
