package session

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		size      int
		minChunks int
	}{
		{"small", 10, 1},
		{"3KB", 3 << 10, 2},
		{"12KB", 12 << 10, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, CookieConfig{Secure: true})
			j := jar{}
			value := big(tt.size)
			rec := saveValues(t, s, j, "app", map[any]any{"token": value, "n": 42})

			if len(j) < tt.minChunks {
				t.Errorf("got cookies %v, want at least %d", j.names(), tt.minChunks)
			}
			for _, line := range rec.Header().Values("Set-Cookie") {
				if len(line) >= 4096 {
					t.Errorf("Set-Cookie line of %d bytes, want under 4096", len(line))
				}
			}
			for name, v := range j {
				if len(v) > defaultChunkSize {
					t.Errorf("cookie %s holds %d bytes, want at most %d", name, len(v), defaultChunkSize)
				}
			}
			sess := mustLoad(t, s, j, "app")
			if sess.Values["token"] != value || sess.Values["n"] != 42 {
				t.Errorf("values did not round-trip: got %d values", len(sess.Values))
			}
		})
	}
}

func TestRoundTripKeepsID(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	j := jar{}
	r := j.request()
	sess, err := s.New(r, "app")
	if err != nil || !sess.IsNew || len(sess.ID) != 43 {
		t.Fatalf("New without cookie: IsNew=%v ID=%q err=%v, want a new session with a 43-character ID", sess.IsNew, sess.ID, err)
	}
	id := sess.ID
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		t.Fatal(err)
	}
	j.apply(rec)
	for range 2 {
		update(t, s, j, "app", func(sess *sessions.Session) { sess.Values["k"] = "v" })
	}
	if got := mustLoad(t, s, j, "app").ID; got != id {
		t.Errorf("ID changed across saves: got %q, want %q", got, id)
	}
}

func TestGetUsesRegistry(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	a, err := s.Get(r, "app")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Get(r, "app")
	if a != b {
		t.Error("Get twice in one request returned different sessions")
	}
	a.Values["k"] = "v"
	rec := httptest.NewRecorder()
	if err := sessions.Save(r, rec); err != nil {
		t.Fatalf("sessions.Save: %v", err)
	}
	j := jar{}
	j.apply(rec)
	if mustLoad(t, s, j, "app").Values["k"] != "v" {
		t.Error("session saved through the registry did not round-trip")
	}
}

func TestNewCookieStoreConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     CookieConfig
		wantErr string
	}{
		{"zero", CookieConfig{}, ""},
		{"SameSite None without Secure", CookieConfig{SameSite: http.SameSiteNoneMode}, "SameSite=None requires Secure"},
		{"SameSite None with Secure", CookieConfig{SameSite: http.SameSiteNoneMode, Secure: true}, ""},
		{"SameSite Strict", CookieConfig{SameSite: http.SameSiteStrictMode}, ""},
		{"SameSite default mode", CookieConfig{SameSite: http.SameSiteDefaultMode}, "SameSite must be"},
		{"negative idle timeout", CookieConfig{IdleTimeout: -time.Hour}, "timeouts"},
		{"sub-second absolute timeout", CookieConfig{AbsoluteTimeout: time.Millisecond}, "timeouts"},
		{"chunk size too small", CookieConfig{ChunkSize: 63}, "ChunkSize"},
		{"chunk size too large", CookieConfig{ChunkSize: 4097}, "ChunkSize"},
		{"negative max chunks", CookieConfig{MaxChunks: -1}, "MaxChunks"},
		{"too many chunks", CookieConfig{MaxChunks: 51}, "MaxChunks"},
		{"relative path", CookieConfig{Path: "app"}, "path"},
		{"bad domain", CookieConfig{Domain: "a b"}, "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCookieStore([][]byte{secret('a')}, tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want a store", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      CookieConfig
		wantName string
		wantSite http.SameSite
	}{
		{"insecure", CookieConfig{}, "app", http.SameSiteLaxMode},
		{"secure host", CookieConfig{Secure: true}, "__Host-app", http.SameSiteLaxMode},
		{"secure root path", CookieConfig{Secure: true, Path: "/"}, "__Host-app", http.SameSiteLaxMode},
		{"secure with path", CookieConfig{Secure: true, Path: "/app"}, "__Secure-app", http.SameSiteLaxMode},
		{"secure with domain", CookieConfig{Secure: true, Domain: "example.com"}, "__Secure-app", http.SameSiteLaxMode},
		{"insecure with path", CookieConfig{Path: "/app"}, "app", http.SameSiteLaxMode},
		{"strict", CookieConfig{SameSite: http.SameSiteStrictMode}, "app", http.SameSiteStrictMode},
		{"none", CookieConfig{SameSite: http.SameSiteNoneMode, Secure: true}, "__Host-app", http.SameSiteNoneMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, tt.cfg)
			j := jar{}
			rec := update(t, s, j, "app", func(sess *sessions.Session) {
				sess.Values["token"] = big(6 << 10)
				// A handler cannot weaken the cookies through Options.
				sess.Options.Secure, sess.Options.HttpOnly, sess.Options.Path = false, false, "/other"
			})
			cookies := rec.Result().Cookies()
			if len(cookies) < 2 {
				t.Fatalf("got %d cookies, want chunks", len(cookies))
			}
			for i, c := range cookies {
				if want := chunkName(tt.wantName, i); c.Name != want {
					t.Errorf("cookie %d named %q, want %q", i, c.Name, want)
				}
				wantPath := tt.cfg.Path
				if wantPath == "" {
					wantPath = "/"
				}
				if !c.HttpOnly || c.Secure != tt.cfg.Secure || c.SameSite != tt.wantSite || c.Path != wantPath || c.Domain != tt.cfg.Domain {
					t.Errorf("cookie %s: HttpOnly %v Secure %v SameSite %v Path %q Domain %q", c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
				}
				if c.MaxAge != int(defaultAbsoluteTimeout/time.Second) {
					t.Errorf("cookie %s: Max-Age %d, want the absolute timeout", c.Name, c.MaxAge)
				}
			}
			if mustLoad(t, s, j, "app").Values["token"] != big(6<<10) {
				t.Error("values did not round-trip")
			}
		})
	}
}

func TestSessionNames(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{Secure: true})
	for _, name := range []string{"", "a.b", "a b", "__Host-app", "__secure-app", "a;b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			sess, err := s.New(r, name)
			if err == nil || sess == nil {
				t.Fatalf("New(%q): got %v, want an error and a session", name, err)
			}
			if err := s.Save(r, httptest.NewRecorder(), sessions.NewSession(s, name)); err == nil {
				t.Fatalf("Save(%q): got no error", name)
			}
		})
	}
}

type testUser struct {
	Name   string
	Groups []string
	Since  time.Time
}

func init() {
	gob.Register(testUser{})
}

func TestGobRegisteredType(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	j := jar{}
	want := testUser{Name: "alice", Groups: []string{"admin"}, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	saveValues(t, s, j, "app", map[any]any{"user": want})
	got, ok := mustLoad(t, s, j, "app").Values["user"].(testUser)
	if !ok || got.Name != want.Name || len(got.Groups) != 1 || !got.Since.Equal(want.Since) {
		t.Errorf("got %#v, want %#v", got, want)
	}

	type unregistered struct{ A int }
	r := j.request()
	sess := mustLoad(t, s, j, "app")
	sess.Values["x"] = unregistered{1}
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err == nil || len(rec.Header().Values("Set-Cookie")) != 0 {
		t.Errorf("Save of an unregistered type: got %v and %d cookies, want an error and none", err, len(rec.Header().Values("Set-Cookie")))
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{Secure: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			j := jar{}
			for i := range 20 {
				want := fmt.Sprint(g, "/", i)
				if err := saveAndGet(s, j, want, big(i*300)); err != nil {
					t.Errorf("goroutine %d, round %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// saveAndGet saves want (and pad) in the session "app" of j, and reads it back
// through the registry. Unlike the other helpers it does not stop the test, so
// goroutines can call it.
func saveAndGet(s *CookieStore, j jar, want, pad string) error {
	r := j.request()
	sess, err := s.Get(r, "app")
	if err != nil {
		return err
	}
	sess.Values["k"], sess.Values["pad"] = want, pad
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		return err
	}
	j.apply(rec)
	sess, err = s.Get(j.request(), "app")
	if err != nil {
		return err
	}
	if got := sess.Values["k"]; got != want {
		return fmt.Errorf("got %v, want %q", got, want)
	}
	return nil
}

func TestLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStore(t, CookieConfig{Logger: logger})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"k": "v"})
	j["app"] = flip(j["app"], 10)
	if _, err := load(t, s, j, "app"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	if !strings.Contains(out, "level=INFO") || !strings.Contains(out, "cookie rejected") || !strings.Contains(out, "session=app") {
		t.Errorf("log output %q, want an INFO record of the rejection", out)
	}
	if strings.Contains(out, j["app"][2:20]) {
		t.Error("log output contains the cookie value")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
