package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

// The leak tests are not parallel: they count the goroutines running this
// package's code, which another test's validators would add to.
// TestCloseStopsGoroutines (jwks_test.go) covers the key-set refresh.

// validatorFrames name the functions a Validator's goroutines run.
var validatorFrames = []string{"keyway/middleware.(*keySet)", "keyway/middleware.(*introspector)", "keyway/middleware.(*Validator)"}

// hungIntrospection returns a Validator, made with ctx, whose introspection
// server holds every call until the test ends, and the channel of a Verify
// whose call is under way.
func hungIntrospection(t *testing.T, ctx context.Context) (*Validator, <-chan error) {
	t.Helper()
	srv := newIntroServer(t)
	v, err := New(ctx, Config{
		Issuer: srv.URL, Audiences: []string{testAudience},
		Introspection: &Introspection{ClientID: introClientID, ClientSecret: introSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	// One call that completes, one that hangs.
	if _, err := v.Verify(t.Context(), "op_unknown"); !errors.Is(err, ErrInactive) {
		t.Fatalf("Verify: %v, want ErrInactive", err)
	}
	g := newGate()
	t.Cleanup(g.open)
	srv.setHandler(g.handler(`{"active":false}`))
	errs := make(chan error, 1)
	go func() {
		_, err := v.Verify(t.Context(), "op_hung")
		errs <- err
	}()
	waitFor(t, "the call to start", func() bool { return v.introspection.waiters("op_hung") == 1 })
	return v, errs
}

// TestValidatorEndsIntrospection: Close, or the end of New's context,
// ends the introspection call under way, and every goroutine of the
// Validator.
func TestValidatorEndsIntrospection(t *testing.T) {
	for _, how := range []string{"Close", "ctx cancelled"} {
		t.Run(how, func(t *testing.T) {
			lc := testenv.NewLeakCheck(validatorFrames...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v, errs := hungIntrospection(t, ctx)
			if len(lc.Started()) == 0 {
				t.Fatal("no goroutine of the Validator seen")
			}
			if how == "Close" {
				v.Close()
			} else {
				cancel()
			}
			select {
			case err := <-errs:
				if !errors.Is(err, ErrIntrospection) {
					t.Errorf("Verify = %v, want ErrIntrospection", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the call under way did not end")
			}
			lc.Ended(t, 2*time.Second)
		})
	}
}

// TestAbandonedIntrospectionEnds: a call whose every caller left ends,
// while the Validator goes on.
func TestAbandonedIntrospectionEnds(t *testing.T) {
	srv := newIntroServer(t)
	v, err := New(context.Background(), Config{
		Issuer: srv.URL, Audiences: []string{testAudience},
		Introspection: &Introspection{ClientID: introClientID, ClientSecret: introSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if _, err := v.Verify(t.Context(), "op_unknown"); !errors.Is(err, ErrInactive) {
		t.Fatalf("Verify: %v, want ErrInactive", err)
	}
	g := newGate()
	t.Cleanup(g.open)
	srv.setHandler(g.handler(`{"active":false}`))
	lc := testenv.NewLeakCheck("keyway/middleware.(*introspector).run")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, "op_hung"); !errors.Is(err, ErrIntrospection) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify = %v, want ErrIntrospection and the deadline", err)
	}
	lc.Ended(t, 2*time.Second)
	// The Validator still answers.
	srv.setHandler(nil)
	if _, err := v.Verify(t.Context(), "op_other"); !errors.Is(err, ErrInactive) {
		t.Fatalf("Verify after an abandoned call: %v, want ErrInactive", err)
	}
}
