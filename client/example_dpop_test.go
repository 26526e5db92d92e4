package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleNewDPoP() {
	// A provider that binds tokens to DPoP keys and hands out nonces.
	op := oidctest.NewServer(oidctest.Config{
		DPoPNonce: true,
		Clients: []oidctest.Client{{
			ID: "cli", RedirectURIs: []string{"http://127.0.0.1:8080/callback"},
		}},
	})
	defer op.Close()

	// The key stays with the client; an HSM or KMS crypto.Signer works too.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	dpop, err := client.NewDPoP(key, "") // ES256
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(client.Config{
		ClientID: "cli",
		Endpoint: client.Endpoint{
			Issuer:   op.Issuer,
			AuthURL:  op.Issuer + "/authorize",
			TokenURL: op.Issuer + "/token",
		},
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"openid", "profile"},
		DPoP:        dpop,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	req, err := c.AuthCodeURL(ctx) // carries dpop_jkt: the code is bound too
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
	tok, err := c.Exchange(ctx, code, req) // retried once with the server's nonce
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token type:", tok.TokenType)

	// Each API call carries a fresh proof for its method and URL.
	api := c.HTTPClientFor(c.TokenSource(tok))
	resp, err := api.Get(op.Issuer + "/userinfo")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("userinfo with a proof:", resp.Status)

	// Without the key, the token is useless.
	stolen, _ := http.NewRequestWithContext(ctx, http.MethodGet, op.Issuer+"/userinfo", nil)
	stolen.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(stolen)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("stolen token as bearer:", resp.Status)
	// Output:
	// token type: DPoP
	// userinfo with a proof: 200 OK
	// stolen token as bearer: 401 Unauthorized
}

func ExampleParseChallenges() {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce"`)
	challenges, err := client.ParseChallenges(h.Values("WWW-Authenticate"))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range challenges {
		fmt.Printf("%s error=%q\n", c.Scheme, c.Param("error"))
	}
	// Output:
	// Bearer error=""
	// DPoP error="use_dpop_nonce"
}
