package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// browser stands in for the user's browser: it stops at the provider's
// redirect back to the app and returns the redirect's parameters.
func browser(authURL string) (url.Values, error) {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	return loc.Query(), nil
}

func Example() {
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "app", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1:8080/callback"},
	}}})
	defer op.Close()

	c, err := client.New(client.Config{
		ClientID:     "app",
		ClientSecret: "s3cret",
		Endpoint: client.Endpoint{
			Issuer:                op.Issuer,
			AuthURL:               op.Issuer + "/authorize",
			TokenURL:              op.Issuer + "/token",
			IssParameterSupported: true,
		},
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"openid", "profile", "offline_access"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// /login: redirect the user to req.URL and keep req (sealed, in a cookie).
	req, err := c.AuthCodeURL(ctx)
	if err != nil {
		log.Fatal(err)
	}
	params, err := browser(req.URL)
	if err != nil {
		log.Fatal(err)
	}

	// /callback: check state and iss, then redeem the code with the verifier.
	code, err := c.ParseResponse(params, req)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Exchange(ctx, code, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", tok.AccessToken != "")
	fmt.Println("ID token:", tok.IDToken != "")
	fmt.Println("refresh token:", tok.RefreshToken != "")

	// A replayed callback is refused.
	_, err = c.ParseResponse(url.Values{"code": {code}, "state": {"forged"}, "iss": {op.Issuer}}, req)
	fmt.Println("forged state refused:", errors.Is(err, client.ErrStateMismatch))
	// Output:
	// access token: true
	// ID token: true
	// refresh token: true
	// forged state refused: true
}

func ExampleClient_TokenSource() {
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "cli", RedirectURIs: []string{"http://127.0.0.1:8080/callback"}, // a public client
	}}})
	defer op.Close()
	c, err := client.New(client.Config{
		ClientID:    "cli",
		Endpoint:    client.Endpoint{Issuer: op.Issuer, AuthURL: op.Issuer + "/authorize", TokenURL: op.Issuer + "/token"},
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"openid", "offline_access"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	req, err := c.AuthCodeURL(ctx)
	if err != nil {
		log.Fatal(err)
	}
	params, err := browser(req.URL)
	if err != nil {
		log.Fatal(err)
	}
	code, err := c.ParseResponse(params, req)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Exchange(ctx, code, req)
	if err != nil {
		log.Fatal(err)
	}

	// Pretend the session was stored a while ago: the token has expired.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	ts := c.TokenSource(&stale, client.OnRotate(func(ctx context.Context, prev, next *client.Token) error {
		fmt.Println("save rotated refresh token:", next.RefreshToken != prev.RefreshToken)
		return nil
	}))

	// The HTTP client refreshes the token once and sends it.
	api := c.HTTPClientFor(ts)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, op.Issuer+"/userinfo", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := api.Do(r)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("userinfo:", resp.Status)
	// Output:
	// save rotated refresh token: true
	// userinfo: 200 OK
}
