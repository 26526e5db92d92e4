package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// FloodBytes is what a FloodServer tries to send: far over every cap.
const FloodBytes = 20 << 20

// FloodServer answers every request with a 200 JSON body of FloodBytes,
// streamed without Content-Length, and counts how much of it it managed to
// write before the client hung up: the server of the 20 MB tests.
type FloodServer struct {
	*httptest.Server
	prefix   string
	requests atomic.Int64
	written  atomic.Int64 // bytes written, all requests
	finished atomic.Int64 // requests whose whole body was written
	running  atomic.Int64 // handlers still writing
}

// NewFloodServer starts a FloodServer whose bodies begin with prefix and
// go on with an endless JSON string, e.g. `{"keys":[],"pad":"`. It is
// closed when the test ends.
func NewFloodServer(t testing.TB, prefix string) *FloodServer {
	t.Helper()
	fs := &FloodServer{prefix: prefix}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

// Requests returns how many requests the server received.
func (fs *FloodServer) Requests() int64 { return fs.requests.Load() }

func (fs *FloodServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.running.Add(1)
	defer fs.running.Add(-1)
	fs.requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	n, err := io.WriteString(w, fs.prefix)
	fs.written.Add(int64(n))
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	for sent := n; err == nil && sent < FloodBytes; sent += n {
		n, err = w.Write(chunk)
		fs.written.Add(int64(n))
	}
	if err == nil {
		fs.finished.Add(1)
	}
}

// CheckCutOff waits for the handlers to end and fails t unless every
// client hung up before its whole body was written.
func (fs *FloodServer) CheckCutOff(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); fs.running.Load() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server is still writing 10 s later: the client kept reading")
		}
	}
	if n := fs.finished.Load(); n != 0 {
		t.Fatalf("%d responses of 20 MB were read to the end", n)
	}
	if w := fs.written.Load(); w >= FloodBytes {
		t.Fatalf("the server wrote %d bytes", w)
	}
}
