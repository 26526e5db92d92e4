package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleClient_ClientCredentialsSource() {
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{ID: "service", Secret: "s3cret"}}})
	defer op.Close()
	// An API that says whether the request carried a bearer token.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer api.Close()

	c, err := client.New(client.Config{
		ClientID:     "service",
		ClientSecret: "s3cret",
		Endpoint:     client.Endpoint{Issuer: op.Issuer, TokenURL: op.Issuer + "/token"},
		Scopes:       []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// One token for every request, renewed shortly before it expires.
	src := c.ClientCredentialsSource(client.RefreshWith(client.Resource(api.URL)))
	hc := c.HTTPClientFor(src)
	for i := range 3 {
		resp, err := hc.Get(api.URL)
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("call %d: %s, bearer token: %s\n", i+1, resp.Status, b)
	}
	fmt.Println("token requests:", len(op.Requests(oidctest.EndpointToken)))
	// Output:
	// call 1: 200 OK, bearer token: true
	// call 2: 200 OK, bearer token: true
	// call 3: 200 OK, bearer token: true
	// token requests: 1
}

func ExampleClient_ClientCredentials_clientSecretJWT() {
	// A secret for client_secret_jwt must be as long as the HMAC's hash.
	secret := strings.Repeat("0123456789abcdef", 2) // 32 bytes, for HS256
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "service", Secret: secret, AuthMethod: "client_secret_jwt",
	}}})
	defer op.Close()
	c, err := client.New(client.Config{
		ClientID:     "service",
		ClientSecret: secret,
		AuthMethod:   client.AuthClientSecretJWT, // the secret signs an assertion; it is never sent
		Endpoint:     client.Endpoint{Issuer: op.Issuer, TokenURL: op.Issuer + "/token"},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.ClientCredentials(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	form := op.Requests(oidctest.EndpointToken)[0].Form
	fmt.Println("access token:", tok.AccessToken != "")
	fmt.Println("assertion sent:", form.Get("client_assertion") != "", "secret sent:", form.Has("client_secret"))

	_, err = client.New(client.Config{
		ClientID: "service", ClientSecret: "short", AuthMethod: client.AuthClientSecretJWT,
		Endpoint: client.Endpoint{Issuer: op.Issuer, TokenURL: op.Issuer + "/token"},
	})
	fmt.Println(err)
	// Output:
	// access token: true
	// assertion sent: true secret sent: false
	// client: client_secret_jwt with HS256 needs a ClientSecret of at least 32 bytes, not 5
}
