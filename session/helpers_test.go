package session

import (
	"bytes"
	"github.com/keyway-go/keyway/internal/testenv"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// secret returns a 32-byte test secret made of b.
func secret(b byte) []byte {
	return bytes.Repeat([]byte{b}, MinKeySize)
}

// newStore returns a store sealing with keys, or with secret('k').
func newStore(tb testing.TB, cfg CookieConfig, keys ...[]byte) *CookieStore {
	tb.Helper()
	if len(keys) == 0 {
		keys = [][]byte{secret('k')}
	}
	s, err := NewCookieStore(keys, cfg)
	if err != nil {
		tb.Fatalf("NewCookieStore: %v", err)
	}
	return s
}

// clock is a settable clock for CookieConfig.Now.
type clock = testenv.Clock

func newClock() *clock {
	return testenv.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
}

// jar is a browser's cookies for one site, by name.
type jar map[string]string

// apply stores or deletes the cookies a response sets.
func (j jar) apply(rec *httptest.ResponseRecorder) {
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c.Value
		}
	}
}

// request returns a request carrying the jar's cookies.
func (j jar) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	for _, name := range slices.Sorted(maps.Keys(j)) {
		r.AddCookie(&http.Cookie{Name: name, Value: j[name]})
	}
	return r
}

// names returns the jar's cookie names, sorted.
func (j jar) names() []string {
	return slices.Sorted(maps.Keys(j))
}

// update loads the session called name from the jar, lets change edit it,
// saves it and applies the response to the jar.
func update(tb testing.TB, s *CookieStore, j jar, name string, change func(*sessions.Session)) *httptest.ResponseRecorder {
	tb.Helper()
	r := j.request()
	sess, err := s.New(r, name)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	change(sess)
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		tb.Fatalf("Save: %v", err)
	}
	j.apply(rec)
	return rec
}

// saveValues saves a session called name holding values into the jar.
func saveValues(tb testing.TB, s *CookieStore, j jar, name string, values map[any]any) *httptest.ResponseRecorder {
	tb.Helper()
	return update(tb, s, j, name, func(sess *sessions.Session) {
		clear(sess.Values)
		maps.Copy(sess.Values, values)
	})
}

// load reads the session called name from the jar.
func load(tb testing.TB, s sessions.Store, j jar, name string) (*sessions.Session, error) {
	tb.Helper()
	sess, err := s.New(j.request(), name)
	if sess == nil {
		tb.Fatal("New returned a nil session")
	}
	return sess, err
}

// mustLoad reads the session called name from the jar and fails on error or a
// new session.
func mustLoad(tb testing.TB, s sessions.Store, j jar, name string) *sessions.Session {
	tb.Helper()
	sess, err := load(tb, s, j, name)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if sess.IsNew {
		tb.Fatal("New returned a new session, want the saved one")
	}
	return sess
}

// wantFresh fails unless sess is a new, empty session.
func wantFresh(tb testing.TB, sess *sessions.Session) {
	tb.Helper()
	if !sess.IsNew || len(sess.Values) != 0 || sess.ID == "" {
		tb.Fatalf("got session IsNew=%v with %d values and ID %q, want a new empty one", sess.IsNew, len(sess.Values), sess.ID)
	}
}

// flip returns v with the byte at i replaced by another base64url character.
func flip(v string, i int) string {
	c := byte('A')
	if v[i] == 'A' {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}

// big returns a string of n bytes.
func big(n int) string {
	return strings.Repeat("tok.", n/4+1)[:n]
}
