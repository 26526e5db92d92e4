package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleClient_Revoke() {
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{ID: "service", Secret: "s3cret", OpaqueAccessTokens: true}}})
	defer op.Close()
	c, err := client.New(client.Config{
		ClientID: "service", ClientSecret: "s3cret",
		Endpoint: client.Endpoint{Issuer: op.Issuer, TokenURL: op.Issuer + "/token", RevocationURL: op.Issuer + "/revoke"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	tok, err := c.ClientCredentials(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("active before:", introspect(op, tok.AccessToken))
	if err := c.Revoke(ctx, tok.AccessToken, "access_token"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("active after:", introspect(op, tok.AccessToken))
	// Output:
	// active before: true
	// active after: false
}

// introspect asks op's introspection endpoint whether token is active.
func introspect(op *oidctest.Server, token string) bool {
	req, _ := http.NewRequest(http.MethodPost, op.Issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("service", "s3cret")
	resp, err := op.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	return body.Active
}
