package testenv

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// DeadlineTransport is an http.RoundTripper that records, by path, how far
// ahead the deadline of each request's context was when it was sent, for
// tests that every outgoing call is bounded. It passes requests to Base,
// or answers 404 itself when Base is nil. Safe for concurrent use.
type DeadlineTransport struct {
	Base http.RoundTripper

	mu    sync.Mutex
	ahead map[string]time.Duration
}

// RoundTrip records req's deadline and sends it on.
func (d *DeadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ahead := time.Duration(-1)
	if dl, ok := req.Context().Deadline(); ok {
		ahead = time.Until(dl)
	}
	d.mu.Lock()
	if d.ahead == nil {
		d.ahead = make(map[string]time.Duration)
	}
	d.ahead[req.URL.Path] = ahead
	d.mu.Unlock()
	if d.Base != nil {
		return d.Base.RoundTrip(req)
	}
	rec := httptest.NewRecorder()
	rec.WriteHeader(http.StatusNotFound)
	return rec.Result(), nil
}

// Ahead returns how far ahead the deadline of the last request for path
// was (-1: it had none), and whether there was such a request.
func (d *DeadlineTransport) Ahead(path string) (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ahead, ok := d.ahead[path]
	return ahead, ok
}
