package rp_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/rp"
)

func TestMemoryCacheSeen(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := &rp.MemoryCache{Now: clk.Now}
	ctx := t.Context()
	seen := func(key string, until time.Time) bool {
		t.Helper()
		ok, err := c.Seen(ctx, key, until)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	until := clk.Now().Add(time.Minute)
	if seen("a", until) {
		t.Fatal("a new key was seen")
	}
	if !seen("a", until) {
		t.Fatal("a recorded key was not seen")
	}
	if seen("b", until) {
		t.Fatal("another key was seen")
	}
	clk.Advance(time.Minute)
	if seen("a", clk.Now().Add(time.Minute)) {
		t.Fatal("an expired key was seen")
	}
	if !seen("a", clk.Now().Add(time.Minute)) {
		t.Fatal("a key recorded again was not seen")
	}
}

// TestMemoryCacheSeenConcurrent: of concurrent calls with one key, one
// records it.
func TestMemoryCacheSeenConcurrent(t *testing.T) {
	t.Parallel()
	var c rp.MemoryCache // the zero value is usable
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _ := c.Seen(t.Context(), "k", time.Now().Add(time.Minute)); !ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if n := fresh.Load(); n != 1 {
		t.Fatalf("%d calls recorded the key, want 1", n)
	}
}

func TestMemoryCacheLogouts(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := &rp.MemoryCache{Now: clk.Now}
	ctx := t.Context()
	latest := func(keys ...string) time.Time {
		t.Helper()
		at, err := c.Latest(ctx, keys...)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	t0 := clk.Now()
	if at := latest("sid", "sub"); !at.IsZero() {
		t.Fatalf("Latest of unknown keys: %v", at)
	}
	if err := c.Record(ctx, t0, t0.Add(time.Hour), "sid"); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(ctx, t0.Add(time.Second), t0.Add(time.Hour), "sub"); err != nil {
		t.Fatal(err)
	}
	if at := latest("sid"); !at.Equal(t0) {
		t.Fatalf("Latest(sid) = %v, want %v", at, t0)
	}
	for _, keys := range [][]string{{"sid", "sub", "other"}, {"other", "sub", "sid"}} {
		if at := latest(keys...); !at.Equal(t0.Add(time.Second)) {
			t.Fatalf("Latest(%v) = %v, want the later one", keys, at)
		}
	}
	// Recording again replaces the entry.
	if err := c.Record(ctx, t0.Add(time.Minute), t0.Add(2*time.Hour), "sid"); err != nil {
		t.Fatal(err)
	}
	if at := latest("sid"); !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Latest(sid) after a new logout = %v", at)
	}
	clk.Advance(time.Hour)
	if at := latest("sub"); !at.IsZero() {
		t.Fatalf("an expired logout is still listed: %v", at)
	}
	if at := latest("sid"); at.IsZero() {
		t.Fatal("the renewed logout expired with the first")
	}
}

// TestMemoryCacheBound: a full cache drops the entries that expire
// soonest.
func TestMemoryCacheBound(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := &rp.MemoryCache{MaxEntries: 3, Now: clk.Now}
	ctx := t.Context()
	now := clk.Now()
	for i, ttl := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		if err := c.Record(ctx, now, now.Add(ttl), fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Seen(ctx, "new", now.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"k0": true, "k1": false, "k2": true} {
		if at, _ := c.Latest(ctx, key); at.IsZero() == want {
			t.Errorf("%s kept: %t, want %t", key, !at.IsZero(), want)
		}
	}
	if ok, _ := c.Seen(ctx, "new", now.Add(4*time.Hour)); !ok {
		t.Fatal("the newest entry was dropped")
	}
}
