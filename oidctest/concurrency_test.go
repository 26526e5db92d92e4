package oidctest_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

// TestConcurrentUse drives one server from 50 goroutines, half getting
// client credentials tokens and half refreshing their own grant, while
// keys rotate and requests are read; run it with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	const workers, rounds = 50, 5
	srv := newServer(t, oidctest.Config{})
	refreshTokens := make([]string, workers)
	for i := 1; i < workers; i += 2 {
		refreshTokens[i] = login(t, srv, nil).RefreshToken
	}

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		issued []string // every access token
	)
	work := func(i int) error {
		for range rounds {
			form := clientCredentialsForm()
			if i%2 == 1 {
				form = refreshForm(refreshTokens[i])
			}
			res, err := postForm(srv, "/token", appAuth, form)
			if err != nil {
				return err
			}
			tk, err := parseTokens(res)
			if err != nil {
				return err
			}
			if i%2 == 1 {
				if tk.RefreshToken == refreshTokens[i] {
					return fmt.Errorf("refresh token was not rotated")
				}
				refreshTokens[i] = tk.RefreshToken
			}
			mu.Lock()
			issued = append(issued, tk.AccessToken)
			mu.Unlock()
		}
		return nil
	}
	for i := range workers {
		wg.Go(func() {
			if err := work(i); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	wg.Go(func() {
		if err := srv.RotateKeys(); err != nil {
			t.Errorf("RotateKeys: %v", err)
		}
	})
	wg.Go(func() {
		for range rounds {
			srv.Requests(oidctest.EndpointToken)
			srv.SetFaults(oidctest.Faults{})
			srv.JWKS()
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	if n := len(srv.Requests(oidctest.EndpointToken)); n != workers/2+workers*rounds {
		t.Errorf("recorded %d token requests, want %d", n, workers/2+workers*rounds)
	}
	set := fetchJWKS(t, srv)
	seen := map[string]bool{}
	for _, tok := range issued {
		if seen[tok] {
			t.Fatal("an access token was issued twice")
		}
		seen[tok] = true
		if _, err := verifyWithJWKS(set, tok); err != nil {
			t.Fatalf("access token does not verify: %v", err)
		}
	}
	for i := 1; i < workers; i += 2 {
		if !isActive(t, srv, refreshTokens[i]) {
			t.Errorf("worker %d: latest refresh token is not active", i)
		}
	}
}
