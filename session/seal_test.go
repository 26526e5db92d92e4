package session

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/sessions"
)

func newTestSealer(tb testing.TB, secrets ...[]byte) *sealer {
	tb.Helper()
	s, err := newSealer(secrets)
	if err != nil {
		tb.Fatalf("newSealer: %v", err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t, secret('a'))
	plaintext := []byte("hello")
	a, b := s.seal("app", plaintext), s.seal("app", plaintext)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal, want a random nonce each")
	}
	if want := headerSize + 12 + len(plaintext) + 16; len(a) != want {
		t.Errorf("sealed value is %d bytes, want %d", len(a), want)
	}
	if a[0] != formatVersion {
		t.Errorf("version byte %d, want %d", a[0], formatVersion)
	}
	got, err := s.open("app", a)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("open: %q, %v", got, err)
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t, secret('a'), secret('b'))
	other := newTestSealer(t, secret('b'))
	sealed := s.seal("app", []byte("hello"))

	tests := []struct {
		name   string
		cookie string
		sealed []byte
	}{
		{"other cookie name", "app2", sealed},
		{"version 2, sealed as such", "app", sealWithVersion(s, 2, "app", []byte("hello"))},
		{"key ID of another known key", "app", relabel(sealed, s.keys[1].id[:])},
		{"sealed under a key not held", "app", newTestSealer(t, secret('c')).seal("app", []byte("hello"))},
		{"sealed by the second key's own store, relabelled as the first", "app", relabel(other.seal("app", []byte("x")), s.keys[0].id[:])},
		{"empty", "app", nil},
	}
	for i := range sealed {
		tests = append(tests, struct {
			name   string
			cookie string
			sealed []byte
		}{fmt.Sprintf("byte %d flipped", i), "app", flipByte(sealed, i)})
	}
	for n := range headerSize + 28 {
		tests = append(tests, struct {
			name   string
			cookie string
			sealed []byte
		}{fmt.Sprintf("truncated to %d", n), "app", sealed[:n]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := s.open(tt.cookie, tt.sealed); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %q, %v; want ErrInvalid", got, err)
			}
		})
	}
}

func TestOpenWithOlderKey(t *testing.T) {
	t.Parallel()
	old := newTestSealer(t, secret('o'))
	rotated := newTestSealer(t, secret('n'), secret('o'))
	got, err := rotated.open("app", old.seal("app", []byte("hello")))
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	if sealed := rotated.seal("app", nil); !bytes.Equal(sealed[1:headerSize], rotated.keys[0].id[:]) {
		t.Error("rotated sealer did not seal with its first key")
	}
}

func TestKeyIDs(t *testing.T) {
	t.Parallel()
	a1, a2, b := newTestSealer(t, secret('a')), newTestSealer(t, secret('a')), newTestSealer(t, secret('b'))
	if a1.keys[0].id != a2.keys[0].id {
		t.Error("key ID of the same secret differs between stores; replicas could not share cookies")
	}
	if a1.keys[0].id == b.keys[0].id {
		t.Error("different secrets share a key ID")
	}
}

// sealWithVersion seals like s.seal but with another version byte.
func sealWithVersion(s *sealer, version byte, name string, plaintext []byte) []byte {
	k := s.keys[0]
	out := append([]byte{version}, k.id[:]...)
	return k.aead.Seal(out, nil, plaintext, additionalData(out, name))
}

// relabel returns sealed with its key ID replaced.
func relabel(sealed, id []byte) []byte {
	out := bytes.Clone(sealed)
	copy(out[1:headerSize], id)
	return out
}

func flipByte(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x01
	return out
}

// TestNonCanonicalBase64 changes only the unused low bits of the last base64
// character: the sealed bytes stay the same, but the value is not the one the
// store wrote, so it is refused.
func TestNonCanonicalBase64(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for pad := range 3 {
		j := jar{}
		saveValues(t, s, j, "app", map[any]any{"k": big(pad)})
		v := j["app"]
		if (len(v)-2)%4 == 0 { // "1." then whole quanta: no unused bits
			continue
		}
		last := strings.IndexByte(alphabet, v[len(v)-1])
		j["app"] = v[:len(v)-1] + string(alphabet[last^1])
		if _, err := load(t, s, j, "app"); !errors.Is(err, ErrInvalid) {
			t.Errorf("padding %d: got %v, want ErrInvalid", pad, err)
		}
		return
	}
	t.Fatal("no sealed value with unused bits")
}

func TestRenamedCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      CookieConfig
		from, to string
	}{
		{"plain", CookieConfig{}, "a", "b"},
		{"prefixed", CookieConfig{Secure: true}, "__Host-a", "__Host-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, tt.cfg)
			j := jar{}
			saveValues(t, s, j, "a", map[any]any{"token": big(6 << 10)})
			moved := jar{}
			for name, v := range j {
				moved[strings.Replace(name, tt.from, tt.to, 1)] = v
			}
			sess, err := load(t, s, moved, "b")
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %v, want ErrInvalid", err)
			}
			wantFresh(t, sess)
		})
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := secret('o'), secret('n')
	oldStore := newStore(t, CookieConfig{}, oldKey)
	rotated := newStore(t, CookieConfig{}, newKey, oldKey)
	newOnly := newStore(t, CookieConfig{}, newKey)

	j := jar{}
	saveValues(t, oldStore, j, "app", map[any]any{"k": "v"})
	if _, err := load(t, newOnly, j, "app"); !errors.Is(err, ErrInvalid) {
		t.Errorf("store without the old key: got %v, want ErrInvalid", err)
	}
	if mustLoad(t, rotated, j, "app").Values["k"] != "v" {
		t.Error("rotated store lost the values sealed under the old key")
	}

	update(t, rotated, j, "app", func(*sessions.Session) {})
	if mustLoad(t, newOnly, j, "app").Values["k"] != "v" {
		t.Error("store with the new key only cannot open a value the rotated store saved")
	}
	if _, err := load(t, oldStore, j, "app"); !errors.Is(err, ErrInvalid) {
		t.Errorf("store with the old key only: got %v, want ErrInvalid (new saves must use the new key)", err)
	}
}

func TestNewCookieStoreKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keys    [][]byte
		wantErr string
	}{
		{"none", nil, "no keys"},
		{"empty", [][]byte{{}}, "key 0 is 0 bytes"},
		{"31 bytes", [][]byte{secret('a')[:31]}, "key 0 is 31 bytes"},
		{"old key short", [][]byte{secret('a'), []byte("short")}, "key 1 is 5 bytes"},
		{"repeated", [][]byte{secret('a'), secret('b'), secret('a')}, "key 2 repeats key 0"},
		{"32 bytes", [][]byte{secret('a')}, ""},
		{"64 bytes", [][]byte{bytes.Repeat([]byte{'a'}, 64), secret('b')}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewCookieStore(tt.keys, CookieConfig{})
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("got %v, want a store", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "session: ") {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
