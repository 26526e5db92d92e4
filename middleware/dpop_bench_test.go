package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandlerDPoP compares a request through Handler with a token the
// cache already holds, presented as a Bearer token and with the DPoP
// scheme. A DPoP request needs a fresh proof each time (a replayed one is
// refused): the proofs are made before the timer starts, so the figures
// are the server's cost, proof checks and replay cache included.
func BenchmarkHandlerDPoP(b *testing.B) {
	b.Run("Bearer", func(b *testing.B) {
		f := newFixture(b, nil)
		h := f.v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		r := request(dpopTarget, f.token(b, nil))
		if w := serve(h, r); w.Code != http.StatusOK {
			b.Fatalf("warm-up: %d", w.Code)
		}
		w := httptest.NewRecorder()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			h.ServeHTTP(w, r)
		}
	})
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run("DPoP/"+alg, func(b *testing.B) {
			f := newFixture(b, func(c *Config) { c.DPoP.ReplayCacheSize = b.N + 1 })
			c := newDPoPClient(b, alg)
			tok := f.boundToken(b, c.jkt)
			h := f.v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			if w := serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(b, f, tok, nil))); w.Code != http.StatusOK {
				b.Fatalf("warm-up: %d %s", w.Code, w.Body)
			}
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				reqs[i] = dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(b, f, tok, nil))
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.ServeHTTP(w, reqs[i])
			}
			b.StopTimer()
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		})
	}
}
