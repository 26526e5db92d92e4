package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func ExampleClient_DeviceAuth() {
	op := oidctest.NewServer(oidctest.Config{
		Clients:        []oidctest.Client{{ID: "tv"}}, // a public client
		DeviceInterval: 50 * time.Millisecond,
	})
	defer op.Close()
	c, err := client.New(client.Config{
		ClientID: "tv",
		Endpoint: client.Endpoint{
			Issuer:        op.Issuer,
			TokenURL:      op.Issuer + "/token",
			DeviceAuthURL: op.Issuer + "/device_authorization",
		},
		Scopes: []string{"openid", "offline_access"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	da, err := c.DeviceAuth(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Show the user where to go and what to type.
	fmt.Println("go to:", da.VerificationURI == op.Issuer+"/device")
	fmt.Println("user code:", len(da.UserCode), "characters")

	// The user approves on another device; here, the test server does.
	if err := op.ApproveDevice(da.UserCode, oidctest.DemoUser.Subject); err != nil {
		log.Fatal(err)
	}
	da.Interval = 60 * time.Millisecond // this server allows fast polling
	tok, err := c.DeviceToken(ctx, da)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", tok.AccessToken != "")
	fmt.Println("refresh token:", tok.RefreshToken != "")
	// Output:
	// go to: true
	// user code: 9 characters
	// access token: true
	// refresh token: true
}
