package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleClient_LoopbackLogin() {
	op := oidctest.NewServer(oidctest.Config{})
	defer op.Close()
	c, err := client.New(client.Config{
		ClientID: "cli", // a public client: PKCE protects the code
		Endpoint: client.Endpoint{Issuer: op.Issuer, AuthURL: op.Issuer + "/authorize", TokenURL: op.Issuer + "/token"},
		Scopes:   []string{"openid", "offline_access"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	browser := make(chan string, 1)
	tok, err := c.LoopbackLogin(ctx, client.LoopbackConfig{
		Open: func(authURL string) error {
			// A real app opens the system browser here. This test server
			// wants the redirect URI registered, port included, as real
			// servers need not for loopback URIs (RFC 8252 §7.3).
			u, _ := url.Parse(authURL)
			if err := op.AddClient(oidctest.Client{ID: "cli", RedirectURIs: []string{u.Query().Get("redirect_uri")}}); err != nil {
				return err
			}
			// The browser: the server logs the demo user in and redirects
			// to the loopback address, which shows a "you can close
			// this window" page.
			resp, err := http.Get(authURL)
			if err != nil {
				return err
			}
			resp.Body.Close()
			browser <- resp.Status
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("browser:", <-browser)
	fmt.Println("ID token:", tok.IDToken != "")
	fmt.Println("refresh token:", tok.RefreshToken != "")
	// Output:
	// browser: 200 OK
	// ID token: true
	// refresh token: true
}
