package session

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/sessions"
)

func TestSplitJoin(t *testing.T) {
	t.Parallel()
	const chunkSize, maxChunks = 100, 5
	tests := []struct {
		name       string
		size       int
		wantChunks int // 0: too large
	}{
		{"empty", 0, 1},
		{"fits one", chunkSize - 2, 1},
		{"one over", chunkSize - 1, 2},
		{"fits two", 2*chunkSize - 2, 2},
		{"fits five", maxChunks*chunkSize - 2, 5},
		{"too large", maxChunks*chunkSize - 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			value := big(tt.size)
			chunks, ok := split(value, chunkSize, maxChunks)
			if tt.wantChunks == 0 {
				if ok {
					t.Fatalf("split into %d chunks, want too large", len(chunks))
				}
				return
			}
			if !ok || len(chunks) != tt.wantChunks {
				t.Fatalf("split into %d chunks (ok %v), want %d", len(chunks), ok, tt.wantChunks)
			}
			set := chunkSet{}
			for i, c := range chunks {
				if len(c) > chunkSize {
					t.Errorf("chunk %d is %d bytes, want at most %d", i, len(c), chunkSize)
				}
				set[i] = c
			}
			got, found, err := join(set, maxChunks, maxChunks*chunkSize)
			if err != nil || !found || got != value {
				t.Fatalf("join: found %v, err %v, value equal %v", found, err, got == value)
			}
		})
	}
}

func TestJoinRejects(t *testing.T) {
	t.Parallel()
	const maxChunks, maxTotal = 3, 300
	tests := []struct {
		name     string
		set      chunkSet
		maxTotal int
		wantErr  error // ErrTooLarge implies ErrInvalid as well
	}{
		{"no count", chunkSet{0: "AAAA"}, maxTotal, ErrInvalid},
		{"empty count", chunkSet{0: ".AAAA"}, maxTotal, ErrInvalid},
		{"zero count", chunkSet{0: "0.AAAA"}, maxTotal, ErrInvalid},
		{"leading zero", chunkSet{0: "01.AAAA"}, maxTotal, ErrInvalid},
		{"sign", chunkSet{0: "+1.AAAA"}, maxTotal, ErrInvalid},
		{"letters", chunkSet{0: "x.AAAA"}, maxTotal, ErrInvalid},
		{"long count", chunkSet{0: "1000000000000000000000.AAAA"}, maxTotal, ErrInvalid},
		{"missing chunk", chunkSet{0: "3.AA", 2: "AA"}, maxTotal, ErrInvalid},
		{"count over cap", chunkSet{0: "4.AA", 1: "AA", 2: "AA", 3: "AA"}, maxTotal, ErrTooLarge},
		{"count far over cap", chunkSet{0: "999.AA"}, maxTotal, ErrTooLarge},
		{"chunk over browser limit", chunkSet{0: "1." + big(maxCookieValue)}, 1 << 30, ErrTooLarge},
		{"huge chunk", chunkSet{0: "2.AA", 1: big(1 << 20)}, maxTotal, ErrTooLarge},
		{"total over cap", chunkSet{0: "3." + big(100), 1: big(100), 2: big(100)}, maxTotal, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, found, err := join(tt.set, maxChunks, tt.maxTotal)
			if !found || !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got found %v, error %v; want %v", found, err, tt.wantErr)
			}
		})
	}
}

func TestJoinWithoutFirstChunk(t *testing.T) {
	t.Parallel()
	_, found, err := join(chunkSet{1: "AAAA"}, 8, 800)
	if found || err != nil {
		t.Fatalf("got found %v, error %v; want no session", found, err)
	}
}

// TestOversizeRequest feeds requests over the caps through New: they must be
// rejected as too large before any decoding, with a new session.
func TestOversizeRequest(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{MaxChunks: 8})
	tests := []struct {
		name    string
		cookies map[string]string
	}{
		{"nine chunks", chunks("app", 9, "AAAA")},
		{"huge single cookie", map[string]string{"app": "1." + strings.Repeat("A", 1<<20)}},
		{"eight cookies of 4096", chunks("app", 8, strings.Repeat("A", 4096))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for name, v := range tt.cookies {
				r.AddCookie(&http.Cookie{Name: name, Value: v})
			}
			sess, err := s.New(r, "app")
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid and ErrTooLarge", err)
			}
			wantFresh(t, sess)
		})
	}
}

// chunks returns n chunk cookies of name holding v, the first with the count.
func chunks(name string, n int, v string) map[string]string {
	m := map[string]string{name: fmt.Sprint(n) + "." + v}
	for i := 1; i < n; i++ {
		m[chunkName(name, i)] = v
	}
	return m
}

func TestChunkIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cookie string
		want   int
		ok     bool
	}{
		{"app", 0, true},
		{"app.1", 1, true},
		{"app.49", 49, true},
		{"app.50", 0, false},
		{"app.0", 0, false},
		{"app.01", 0, false},
		{"app.+1", 0, false},
		{"app.-1", 0, false},
		{"app.", 0, false},
		{"app.x", 0, false},
		{"apple", 0, false},
		{"app.1.1", 0, false},
		{"other.1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.cookie, func(t *testing.T) {
			t.Parallel()
			got, ok := chunkIndex("app", tt.cookie)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("chunkIndex = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestReadChunksFirstWins(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "app=1.first; app.1=x; app=1.second; other=y")
	set := readChunks(r, "app")
	if len(set) != 2 || set[0] != "1.first" || set[1] != "x" {
		t.Fatalf("got %v, want the first app cookie and app.1", set)
	}
	if got := readChunks(nil, "app"); len(got) != 0 {
		t.Fatalf("nil request: got %v", got)
	}
}

func TestStale(t *testing.T) {
	t.Parallel()
	set := chunkSet{0: "", 3: "", 1: "", 7: "", 2: ""}
	if got := fmt.Sprint(set.stale(2)); got != "[2 3 7]" {
		t.Errorf("stale(2) = %s, want [2 3 7]", got)
	}
	if got := fmt.Sprint(set.stale(0)); got != "[0 1 2 3 7]" {
		t.Errorf("stale(0) = %s, want [0 1 2 3 7]", got)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	saved := jar{}
	saveValues(t, s, saved, "app", map[any]any{"token": big(12 << 10)})
	n := len(saved)
	if n < 4 {
		t.Fatalf("got %d chunks, want at least 4", n)
	}

	tests := []struct {
		name   string
		tamper func(j jar)
	}{
		{"drop last chunk", func(j jar) { delete(j, chunkName("app", n-1)) }},
		{"drop middle chunk", func(j jar) { delete(j, "app.1") }},
		{"swap chunks", func(j jar) { j["app.1"], j["app.2"] = j["app.2"], j["app.1"] }},
		{"count lowered", func(j jar) { j["app"] = fmt.Sprint(n-1) + j["app"][1:] }},
		{"count raised, extra chunk", func(j jar) {
			j["app"] = fmt.Sprint(n+1) + j["app"][1:]
			j[chunkName("app", n)] = "AAAA"
		}},
		{"truncated", func(j jar) { j["app.1"] = j["app.1"][:len(j["app.1"])-1] }},
	}
	for i := range n {
		tests = append(tests, struct {
			name   string
			tamper func(j jar)
		}{fmt.Sprintf("flip byte in chunk %d", i), func(j jar) {
			name := chunkName("app", i)
			j[name] = flip(j[name], len(j[name])/2)
		}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := jar{}
			for k, v := range saved {
				j[k] = v
			}
			tt.tamper(j)
			sess, err := load(t, s, j, "app")
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %v, want ErrInvalid", err)
			}
			wantFresh(t, sess)
		})
	}
}

func TestExtraChunkIgnored(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"k": "v"})
	j["app.1"] = "left over from a larger session"
	if mustLoad(t, s, j, "app").Values["k"] != "v" {
		t.Fatal("values lost")
	}
	update(t, s, j, "app", func(*sessions.Session) {})
	if _, ok := j["app.1"]; ok {
		t.Error("Save kept the extra chunk, want it deleted")
	}
}

func TestSaveTooLarge(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{MaxChunks: 2})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"k": "v"})

	r := j.request()
	sess := mustLoad(t, s, j, "app")
	sess.Values["token"] = big(2 * defaultChunkSize)
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("failed Save wrote %d cookies, want none", len(got))
	}
}

func TestStaleChunksDeleted(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{Secure: true})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"token": big(12 << 10)})
	n := len(j)
	if n < 4 {
		t.Fatalf("got %d chunks, want at least 4", n)
	}

	rec := saveValues(t, s, j, "app", map[any]any{"k": "v"})
	deleted := map[string]bool{}
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			deleted[c.Name] = true
		}
	}
	for i := 1; i < n; i++ {
		if name := chunkName("__Host-app", i); !deleted[name] {
			t.Errorf("stale chunk %s not deleted", name)
		}
	}
	if got := j.names(); len(got) != 1 || got[0] != "__Host-app" {
		t.Errorf("cookies after shrinking: %v, want [__Host-app]", got)
	}
	if mustLoad(t, s, j, "app").Values["k"] != "v" {
		t.Error("shrunk session did not round-trip")
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		delete func(s *CookieStore, r *http.Request, w http.ResponseWriter, sess *sessions.Session) error
	}{
		{"Delete", (*CookieStore).Delete},
		{"Options.MaxAge -1", func(s *CookieStore, r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
			sess.Options.MaxAge = -1
			return s.Save(r, w, sess)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, CookieConfig{})
			j := jar{}
			saveValues(t, s, j, "app", map[any]any{"token": big(12 << 10)})
			before := j.names()

			r := j.request()
			sess, err := s.Get(r, "app")
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			if err := tt.delete(s, r, rec, sess); err != nil {
				t.Fatal(err)
			}
			expired := map[string]bool{}
			for _, c := range rec.Result().Cookies() {
				if c.MaxAge >= 0 || c.Value != "" {
					t.Errorf("cookie %s: MaxAge %d, value of %d bytes; want expired and empty", c.Name, c.MaxAge, len(c.Value))
				}
				expired[c.Name] = true
			}
			for _, name := range before {
				if !expired[name] {
					t.Errorf("cookie %s not expired", name)
				}
			}
			if err := sessions.Save(r, rec); err != nil {
				t.Fatal(err)
			}
			j.apply(rec)
			if len(j) != 0 {
				t.Errorf("cookies left after deletion and a registry save: %v", j.names())
			}
		})
	}
}
