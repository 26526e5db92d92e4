package session

import (
	"errors"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

func TestTimeouts(t *testing.T) {
	t.Parallel()
	const idle, absolute = time.Hour, 24 * time.Hour
	tests := []struct {
		name    string
		cfg     CookieConfig
		steps   []time.Duration // saves after each step but the last, then a load
		wantErr error
	}{
		{"idle just before", CookieConfig{}, []time.Duration{idle - time.Second}, nil},
		{"idle reached", CookieConfig{}, []time.Duration{idle}, ErrExpired},
		{"idle skipped", CookieConfig{SkipIdleTimeout: true}, []time.Duration{3 * idle}, nil},
		{"custom idle", CookieConfig{IdleTimeout: time.Minute}, []time.Duration{time.Minute}, ErrExpired},
		{"absolute just before", CookieConfig{}, append(every(30*time.Minute, 47), 30*time.Minute-time.Second), nil},
		{"absolute reached", CookieConfig{}, append(every(30*time.Minute, 47), 30*time.Minute), ErrExpired},
		{"absolute reached without idle", CookieConfig{SkipIdleTimeout: true}, []time.Duration{absolute}, ErrExpired},
		{"custom absolute", CookieConfig{AbsoluteTimeout: 2 * time.Hour, SkipIdleTimeout: true}, []time.Duration{2 * time.Hour}, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			tt.cfg.Now = c.Now
			s := newStore(t, tt.cfg)
			j := jar{}
			saveValues(t, s, j, "app", map[any]any{"k": "v"})
			for i, d := range tt.steps {
				c.Advance(d)
				if i < len(tt.steps)-1 {
					update(t, s, j, "app", func(*sessions.Session) {})
				}
			}
			sess, err := load(t, s, j, "app")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				wantFresh(t, sess)
			} else if sess.Values["k"] != "v" {
				t.Error("values lost")
			}
		})
	}
}

// every returns n steps of d.
func every(d time.Duration, n int) []time.Duration {
	steps := make([]time.Duration, n)
	for i := range steps {
		steps[i] = d
	}
	return steps
}

func TestSaveAfterAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := newStore(t, CookieConfig{Now: c.Now, SkipIdleTimeout: true})
	j := jar{}
	r := j.request()
	sess, _ := s.New(r, "app")
	if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
		t.Fatal(err)
	}

	c.Advance(23 * time.Hour)
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		t.Fatal(err)
	}
	if got := rec.Result().Cookies()[0].MaxAge; got != int(time.Hour/time.Second) {
		t.Errorf("Max-Age %d an hour before the absolute timeout, want 3600", got)
	}

	c.Advance(time.Hour)
	rec = httptest.NewRecorder()
	if err := s.Save(r, rec, sess); !errors.Is(err, ErrExpired) {
		t.Fatalf("Save past the absolute timeout: got %v, want ErrExpired", err)
	}
	if got := rec.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("failed Save wrote %d cookies, want none", len(got))
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := newStore(t, CookieConfig{Now: c.Now, SkipIdleTimeout: true})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"k": "v"})
	start := c.Now()

	c.Advance(20 * time.Hour)
	sess := mustLoad(t, s, j, "app")
	if created, _ := s.Activity(sess); !created.Equal(start) {
		t.Errorf("Activity created = %v, want %v", created, start)
	}
	oldID := sess.ID
	s.Rotate(sess)
	if sess.ID == oldID || len(sess.ID) != 43 {
		t.Errorf("Rotate kept ID %q or made a malformed one %q", oldID, sess.ID)
	}
	rec := httptest.NewRecorder()
	if err := s.Save(j.request(), rec, sess); err != nil {
		t.Fatal(err)
	}
	j.apply(rec)

	c.Advance(20 * time.Hour) // 40 hours after the first save, 20 after the rotation
	got := mustLoad(t, s, j, "app")
	if got.ID != sess.ID || got.Values["k"] != "v" {
		t.Errorf("rotated session: ID %q, values %v; want ID %q and the values kept", got.ID, got.Values, sess.ID)
	}
	if created, saved := s.Activity(got); !created.Equal(start.Add(20*time.Hour)) || !saved.Equal(created) {
		t.Errorf("Activity = %v, %v; want both the rotation time", created, saved)
	}
}

// TestSessionsNotRetained checks that the times the store keeps for the
// sessions it hands out do not keep those sessions alive.
func TestSessionsNotRetained(t *testing.T) {
	t.Parallel()
	s := newStore(t, CookieConfig{})
	j := jar{}
	saveValues(t, s, j, "app", map[any]any{"k": "v"})
	for range 100 {
		mustLoad(t, s, j, "app")
	}
	held := func() int {
		n := 0
		s.times.m.Range(func(any, any) bool { n++; return true })
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); held() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still held after garbage collection", held())
		}
		runtime.GC()
	}
}
