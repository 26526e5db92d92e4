package session

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestIDCookie(t *testing.T) {
	t.Parallel()
	tagger, err := newIDTagger([][]byte{secret('a'), secret('b')})
	if err != nil {
		t.Fatal(err)
	}
	older, _ := newIDTagger([][]byte{secret('b')})
	id := newID()
	for _, value := range []string{tagger.encode("app", id), older.encode("app", id)} {
		if got, err := tagger.decode("app", value); err != nil || got != id {
			t.Errorf("decode(%q) = %q, %v; want %q", value, got, err, id)
		}
	}
	if _, err := older.decode("app", tagger.encode("app", id)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a tag under a secret the store lacks: %v, want ErrInvalid", err)
	}
	if _, err := tagger.decode("other", tagger.encode("app", id)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a value moved to another cookie: %v, want ErrInvalid", err)
	}
}

// fuzzRedisStore returns the offline store FuzzRedisCookie decodes with, and
// the counter of the Redis calls it makes.
func fuzzRedisStore(tb testing.TB) (*RedisStore, *atomic.Int64) {
	tb.Helper()
	var calls atomic.Int64
	return offlineStore(tb, &calls, RedisConfig{}, secret('f')), &calls
}

// fuzzID is the session ID of the valid seed.
const fuzzID = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

// FuzzRedisCookie feeds arbitrary session cookie values to a RedisStore's
// New: it must never panic, must refuse with ErrInvalid and a new session
// without asking Redis anything but a value the store tagged, and must ask
// Redis exactly once for such a value.
func FuzzRedisCookie(f *testing.F) {
	s, calls := fuzzRedisStore(f)
	valid := s.ids.encode("app", fuzzID)
	f.Add(valid)
	f.Add(flip(valid, 3))
	f.Add(fuzzID)
	f.Add(valid + "A")
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "app="+value)
		before := calls.Load()
		sess, err := s.New(r, "app")
		asked := calls.Load() - before
		if sess == nil {
			t.Fatal("New returned a nil session")
		}
		if !sess.IsNew || len(sess.Values) != 0 {
			t.Fatal("New returned a loaded session from an offline store")
		}
		c, cerr := r.Cookie("app")
		_, derr := s.ids.decode("app", cookieValue(c, cerr))
		switch {
		case derr == nil && (asked != 1 || !errors.Is(err, ErrExpired)):
			t.Fatalf("tagged value: %v after %d Redis calls, want ErrExpired after 1", err, asked)
		case derr != nil && asked != 0:
			t.Fatalf("untagged value %q made %d Redis calls", value, asked)
		case derr != nil && err != nil && !errors.Is(err, ErrInvalid):
			t.Fatalf("untagged value: %v, want ErrInvalid", err)
		}
	})
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return c.Value
}

// TestFuzzRedisCookieSeeds checks the corpus in testdata (run with -update
// to rewrite it after a format change): the valid seed is tagged, the
// others are not.
func TestFuzzRedisCookieSeeds(t *testing.T) {
	t.Parallel()
	s, _ := fuzzRedisStore(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzRedisCookie")
	if *updateSeeds {
		writeRedisSeeds(t, dir, s)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			id, err := s.ids.decode("app", readSeed(t, filepath.Join(dir, e.Name())))
			if e.Name() == "valid" {
				if err != nil || id != fuzzID {
					t.Fatalf("valid seed: %v; rerun with -update after a format change", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func writeRedisSeeds(tb testing.TB, dir string, s *RedisStore) {
	tb.Helper()
	valid := s.ids.encode("app", fuzzID)
	seeds := map[string]string{
		"valid":         valid,
		"tampered-id":   flip(valid, 7),
		"tampered-tag":  flip(valid, len(valid)-2),
		"no-tag":        fuzzID,
		"long":          valid + "AAAA",
		"short":         valid[:len(valid)-1],
		"other-cookie":  s.ids.encode("other", fuzzID),
		"no-dot":        strings.Replace(valid, ".", "A", 1),
		"non-canonical": valid[:idLen-1] + "B" + valid[idLen:], // low bits of the last character set
		"bad-alphabet":  valid[:5] + "+" + valid[6:],
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, value := range seeds {
		data := fmt.Sprintf("go test fuzz v1\nstring(%s)\n", strconv.Quote(value))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
