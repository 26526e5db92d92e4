package rp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// ExampleHooks counts logins, as a metrics library's counters would, and
// shows the reason of a failed one: a callback whose state names no login.
func ExampleHooks() {
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	provider := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "app", Secret: "s3cret", RedirectURIs: []string{app.URL + "/callback"},
	}}})
	defer provider.Close()

	var started, succeeded atomic.Int64
	hooks := rp.Hooks{
		LoginStarted:   func(context.Context) { started.Add(1) },
		LoginSucceeded: func(context.Context) { succeeded.Add(1) },
		LoginFailed: func(_ context.Context, reason string, _ error) {
			fmt.Println("login failed:", reason) // a label; never the error's text
		},
	}
	secret := []byte("32 random bytes in a real app...")
	sessions, _ := session.NewCookieStore([][]byte{secret}, session.CookieConfig{})
	txs, _ := session.NewCookieStore([][]byte{secret}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute})
	party, err := rp.New(context.Background(), rp.Config{
		Issuer: provider.Issuer, ClientID: "app", ClientSecret: "s3cret",
		RedirectURL: app.URL + "/callback",
		Sessions:    sessions, TransactionStore: txs,
		Hooks: hooks,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.HandleFunc("GET /login", party.Login)
	mux.HandleFunc("GET /callback", party.Callback)
	mux.HandleFunc("GET /{$}", func(http.ResponseWriter, *http.Request) {})

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for _, path := range []string{"/login", "/callback?state=forged&code=x"} {
		resp, err := browser.Get(app.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	fmt.Println("started:", started.Load(), "succeeded:", succeeded.Load())
	// Output:
	// login failed: state
	// started: 1 succeeded: 1
}
