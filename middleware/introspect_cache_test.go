package middleware

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

func TestIntrospectionCachesActiveAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		exp      time.Duration // of the token, from now
		maxTTL   time.Duration // Introspection.MaxCacheTTL
		size     int           // Introspection.CacheSize
		reusedAt time.Duration // still cached then, if positive
		callAt   time.Duration // asked again then
	}{
		{"until exp", time.Minute, 0, 0, time.Minute - time.Second, time.Minute},
		{"at most MaxCacheTTL", time.Hour, 2 * time.Minute, 0, 2*time.Minute - time.Second, 2 * time.Minute},
		{"default MaxCacheTTL", time.Hour, 0, 0, 5*time.Minute - time.Second, 5 * time.Minute},
		{"no exp", 0, time.Minute, 0, time.Minute - time.Second, time.Minute},
		{"disabled by MaxCacheTTL", time.Hour, -1, 0, 0, 0},
		{"disabled by CacheSize", time.Hour, 0, -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIntroFixture(t, func(c *Config) {
				c.Introspection.MaxCacheTTL = tt.maxTTL
				c.Introspection.CacheSize = tt.size
			})
			start := f.clock.Now()
			token := f.opaque(t, func(a map[string]any) {
				if a["exp"] = start.Add(tt.exp).Unix(); tt.exp == 0 {
					delete(a, "exp")
				}
			})
			verify := func(wantCalls, wantHits int64) {
				t.Helper()
				if _, err := f.v.Verify(t.Context(), token); err != nil {
					t.Fatalf("Verify at +%v: %v", f.clock.Now().Sub(start), err)
				}
				if calls, hits := f.srv.calls.Load(), f.n.hits.Load(); calls != wantCalls || hits != wantHits {
					t.Fatalf("at +%v: %d calls and %d cache hits, want %d and %d",
						f.clock.Now().Sub(start), calls, hits, wantCalls, wantHits)
				}
			}
			verify(1, 0)
			if tt.reusedAt == 0 {
				verify(2, 0)
				return
			}
			verify(1, 1)
			f.clock.Advance(tt.reusedAt)
			verify(1, 2)
			f.clock.Advance(tt.callAt - tt.reusedAt)
			verify(2, 2)
		})
	}
}

func TestIntrospectionCachesRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ttl    time.Duration // Introspection.NegativeTTL
		want   time.Duration // how long a refusal is reused; 0: never
		answer func(map[string]any)
		err    error
	}{
		{"inactive, default", 0, 10 * time.Second, func(a map[string]any) { a["active"] = false }, ErrInactive},
		{"inactive, 1 min", time.Minute, time.Minute, func(a map[string]any) { a["active"] = false }, ErrInactive},
		{"wrong aud", 0, 10 * time.Second, func(a map[string]any) { a["aud"] = "other" }, ErrInvalidAudience},
		{"disabled", -1, 0, func(a map[string]any) { a["active"] = false }, ErrInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIntroFixture(t, func(c *Config) { c.Introspection.NegativeTTL = tt.ttl })
			token := f.opaque(t, tt.answer)
			verify := func(wantCalls int64) {
				t.Helper()
				if _, err := f.v.Verify(t.Context(), token); !errors.Is(err, tt.err) {
					t.Fatalf("Verify = %v, want %v", err, tt.err)
				}
				if calls := f.srv.calls.Load(); calls != wantCalls {
					t.Fatalf("%d calls, want %d", calls, wantCalls)
				}
			}
			verify(1)
			if tt.want == 0 {
				verify(2)
				return
			}
			f.clock.Advance(tt.want - time.Second)
			verify(1)
			if f.n.hits.Load() != 1 {
				t.Errorf("%d cache hits reported, want 1", f.n.hits.Load())
			}
			f.clock.Advance(time.Second)
			verify(2)
		})
	}
}

func TestIntrospectionCacheBounds(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := newIntrospectionCache(4)
	claims := &Claims{payload: `{"active":true}`}
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i)}) }
	for i := range 10 {
		c.put(key(i), claims, nil, now.Add(time.Minute), now)
		if n, _ := c.len(); n > 4 {
			t.Fatalf("%d entries after %d puts, want at most 4", n, i+1)
		}
	}
	if _, ok := c.get(key(9), now); !ok {
		t.Error("the last entry put is missing")
	}
	// An expired entry is dropped before a live one, whatever the map
	// order.
	later := now.Add(time.Minute)
	for range 20 {
		c = newIntrospectionCache(2)
		c.put(key(0), claims, nil, now.Add(time.Second), now)
		c.put(key(1), claims, nil, now.Add(time.Hour), now)
		c.put(key(2), claims, nil, later.Add(time.Hour), later)
		if _, ok := c.get(key(1), later); !ok {
			t.Fatal("a live entry was dropped while an expired one was held")
		}
	}
	// Answers over a quarter of the byte budget are not kept.
	big := &Claims{payload: strings.Repeat("x", cacheBytesPerEntry)}
	c.put(key(3), big, nil, later.Add(time.Hour), later)
	if _, ok := c.get(key(3), later); ok {
		t.Error("an answer over the byte budget was cached")
	}
	if _, bytes := c.len(); bytes > 2*cacheBytesPerEntry {
		t.Errorf("%d bytes held, over the budget", bytes)
	}
	var disabled *introspectionCache
	disabled.put(key(0), claims, nil, now.Add(time.Hour), now)
	if _, ok := disabled.get(key(0), now); ok {
		t.Error("a disabled cache answered")
	}
}

// gate blocks introspection calls until released.
type gate struct {
	once     sync.Once
	release  chan struct{}
	canceled chan struct{} // a value for each blocked call that was cancelled
	arrived  chan struct{} // a value for each call that reached the handler
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), canceled: make(chan struct{}, 100), arrived: make(chan struct{}, 100)}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// handler answers with answer once released, and records calls that
// were cancelled while blocked.
func (g *gate) handler(answer string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case g.arrived <- struct{}{}:
		default: // nobody counts that many
		}
		select {
		case <-g.release:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(answer))
		case <-r.Context().Done():
			g.canceled <- struct{}{}
		}
	}
}

// waiters returns how many requests wait for the call about token.
func (in *introspector) waiters(token string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f := in.flights[sha256.Sum256([]byte(token))]; f != nil {
		return f.waiters
	}
	return 0
}

func TestIntrospectionSharesConcurrentCalls(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	g := newGate()
	t.Cleanup(g.open)
	token := f.opaque(t, nil)
	f.srv.setHandler(g.handler(f.srv.answerFor(token)))
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.v.Verify(t.Context(), token)
			errs <- err
		}()
	}
	waitFor(t, "every request to join the call", func() bool { return f.v.introspection.waiters(token) == n })
	g.open()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if calls, hits := f.srv.calls.Load(), f.n.hits.Load(); calls != 1 || hits != 0 {
		t.Errorf("%d calls and %d cache hits for %d concurrent requests, want 1 and 0", calls, hits, n)
	}
}

func TestIntrospectionCancel(t *testing.T) {
	t.Parallel()
	t.Run("the last caller leaving cancels the call", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, nil)
		g := newGate()
		t.Cleanup(g.open)
		f.srv.setHandler(g.handler(`{"active":false}`))
		token := "cancel-" + randomString()
		ctx1, cancel1 := context.WithCancel(t.Context())
		ctx2, cancel2 := context.WithCancel(t.Context())
		errs := make(chan error, 2)
		for _, ctx := range []context.Context{ctx1, ctx2} {
			go func() {
				_, err := f.v.Verify(ctx, token)
				errs <- err
			}()
		}
		waitFor(t, "both requests to join the call", func() bool { return f.v.introspection.waiters(token) == 2 })
		select { // the call must be at the server, or its cancellation goes unseen
		case <-g.arrived:
		case <-time.After(5 * time.Second):
			t.Fatal("the introspection call never reached the server")
		}
		cancel1()
		if err := <-errs; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrIntrospection) {
			t.Fatalf("Verify = %v, want ErrIntrospection and context.Canceled", err)
		}
		select {
		case <-g.canceled:
			t.Fatal("the call was cancelled while a request still waited for it")
		case <-time.After(50 * time.Millisecond):
		}
		cancel2()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify = %v, want context.Canceled", err)
		}
		select {
		case <-g.canceled:
		case <-time.After(5 * time.Second):
			t.Fatal("the call outlived every request that wanted it")
		}
	})
	t.Run("Close ends calls", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, nil)
		cached := f.opaque(t, nil)
		if _, err := f.v.Verify(t.Context(), cached); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		g := newGate()
		t.Cleanup(g.open)
		f.srv.setHandler(g.handler(`{"active":false}`))
		token := f.opaque(t, nil)
		errs := make(chan error, 1)
		go func() {
			_, err := f.v.Verify(t.Context(), token)
			errs <- err
		}()
		waitFor(t, "the request to start the call", func() bool { return f.v.introspection.waiters(token) == 1 })
		done := make(chan struct{})
		go func() {
			f.v.Close()
			close(done)
		}()
		select {
		case err := <-errs:
			if !errors.Is(err, ErrIntrospection) {
				t.Errorf("Verify = %v, want ErrIntrospection", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the call")
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); !errors.Is(err, errIntrospectorClosed) {
			t.Errorf("Verify after Close = %v, want errIntrospectorClosed", err)
		}
		if _, err := f.v.Verify(t.Context(), cached); err != nil {
			t.Errorf("Verify of a cached token after Close: %v", err)
		}
	})
}

func TestIntrospectionNeverLogsTheToken(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	f := newIntroFixture(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Introspection.Timeout = 100 * time.Millisecond
	})
	h := f.v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tokens := []string{
		f.opaque(t, nil),
		f.opaque(t, func(a map[string]any) { a["active"] = false }),
		f.opaque(t, func(a map[string]any) { a["aud"] = "other" }),
		f.opaque(t, func(a map[string]any) { a["active"] = "yes" }),
		"unknown-" + randomString(),
	}
	for _, tok := range tokens {
		serve(h, request("/", tok))
	}
	f.srv.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	failing := f.opaque(t, nil)
	serve(h, request("/", failing))
	tokens = append(tokens, failing)
	out := logs.String()
	if !strings.Contains(out, "introspection failed") || !strings.Contains(out, "introspected token refused") {
		t.Fatalf("the failures were not logged:\n%s", out)
	}
	for _, tok := range tokens {
		if strings.Contains(out, tok) || strings.Contains(out, strings.TrimRight(tok, "=")) {
			t.Errorf("token %q logged:\n%s", tok, out)
		}
	}
}
