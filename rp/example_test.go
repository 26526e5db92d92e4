package rp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// ExampleRP logs a user in to an app, offline: the provider is oidctest's,
// the browser a cookie-jar client.
func ExampleRP() {
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	provider := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "app", Secret: "s3cret", RedirectURIs: []string{app.URL + "/callback"},
	}}})
	defer provider.Close()

	secret := []byte("32 random bytes in a real app...")
	sessions, _ := session.NewCookieStore([][]byte{secret}, session.CookieConfig{})
	txs, _ := session.NewCookieStore([][]byte{secret}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute})
	party, err := rp.New(context.Background(), rp.Config{
		Issuer: provider.Issuer, ClientID: "app", ClientSecret: "s3cret",
		RedirectURL: app.URL + "/callback",
		Sessions:    sessions, TransactionStore: txs,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.HandleFunc("GET /login", party.Login)
	mux.HandleFunc("GET /callback", party.Callback)
	mux.Handle("GET /profile", party.RequireLogin("/login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := rp.UserFrom(r.Context())
		fmt.Fprintf(w, "Hello, %s", user.Claims["name"])
	})))

	// The browser asks for /profile, is sent to log in, and comes back.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(app.URL + "/profile")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Request.URL.Path, string(page))
	// Output: /profile Hello, Ada Lovelace
}
