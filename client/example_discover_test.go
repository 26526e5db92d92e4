package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleDiscover() {
	op := oidctest.NewServer(oidctest.Config{
		IssuerPath: "/tenant-a",
		Clients:    []oidctest.Client{{ID: "service", Secret: "s3cret"}},
	})
	defer op.Close()
	ctx := context.Background()

	// Reads {host}/.well-known/oauth-authorization-server/tenant-a and
	// checks that the document names this very issuer.
	m, err := client.Discover(ctx, op.Issuer, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("device grant:", m.DeviceAuthorizationEndpoint != "")

	c, err := client.New(client.Config{ClientID: "service", ClientSecret: "s3cret", Endpoint: m.Endpoint()})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.ClientCredentials(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", tok.AccessToken != "")
	// Output:
	// device grant: true
	// access token: true
}
