package session

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update", false, "rewrite the seeds in testdata/fuzz/FuzzDecode")

// fuzzStore returns the store FuzzDecode decodes with: a fixed key and a fixed
// clock, so the valid seed stays valid, and small chunks, so it spans several.
func fuzzStore(tb testing.TB) *CookieStore {
	tb.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return newStore(tb, CookieConfig{
		ChunkSize: 100,
		MaxChunks: 6,
		Now:       func() time.Time { return now },
	}, secret('f'))
}

// validHeader returns a Cookie header carrying a session "s" sealed by s.
func validHeader(tb testing.TB, s *CookieStore) string {
	tb.Helper()
	j := jar{}
	saveValues(tb, s, j, "s", map[any]any{"user": "alice", "n": 7})
	if len(j) < 2 {
		tb.Fatalf("valid seed has %d chunks, want several", len(j))
	}
	return j.request().Header.Get("Cookie")
}

// FuzzDecode feeds arbitrary Cookie headers to New: it must never panic, and
// must fail only with ErrInvalid or ErrExpired, with a new session.
func FuzzDecode(f *testing.F) {
	s := fuzzStore(f)
	f.Add(validHeader(f, s))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		sess, err := s.New(r, "s")
		switch {
		case sess == nil:
			t.Fatal("New returned a nil session")
		case err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired):
			t.Fatalf("New failed with %v, want ErrInvalid or ErrExpired", err)
		case err != nil && (!sess.IsNew || len(sess.Values) != 0):
			t.Fatalf("New failed with %v but returned a loaded session", err)
		}
	})
}

// TestFuzzDecodeSeeds checks that the valid seed still opens (run with -update
// to rewrite the seeds after a format change) and that the others do not.
func TestFuzzDecodeSeeds(t *testing.T) {
	t.Parallel()
	s := fuzzStore(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *updateSeeds {
		writeSeeds(t, dir, s)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", readSeed(t, filepath.Join(dir, e.Name())))
			sess, err := s.New(r, "s")
			if e.Name() == "valid" {
				if err != nil || sess.Values["user"] != "alice" {
					t.Fatalf("valid seed: %v, values %v; rerun with -update after a format change", err, sess.Values)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func writeSeeds(tb testing.TB, dir string, s *CookieStore) {
	tb.Helper()
	valid := validHeader(tb, s)
	first, rest, _ := strings.Cut(valid, "; ")
	seeds := map[string]string{
		"valid":         valid,
		"tampered":      flip(first, len(first)/2) + "; " + rest,
		"missing-chunk": first,
		"over-cap":      "s=9.AAAA; s.1=AAAA; s.2=AAAA; s.3=AAAA; s.4=AAAA; s.5=AAAA; s.6=AAAA; s.7=AAAA; s.8=AAAA",
		"bad-count":     "s=x.AAAA",
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, header := range seeds {
		data := fmt.Sprintf("go test fuzz v1\nstring(%s)\n", strconv.Quote(header))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// readSeed returns the string in a one-string corpus file.
func readSeed(tb testing.TB, path string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, quoted, _ := strings.Cut(strings.TrimSpace(string(data)), "\nstring(")
	s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return s
}
