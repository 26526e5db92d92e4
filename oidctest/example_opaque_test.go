package oidctest_test

import (
	"fmt"
	"net/url"

	"github.com/keyway-go/keyway/oidctest"
)

// ExampleConfig_opaqueAccessTokens issues opaque access tokens and asks
// the introspection endpoint what one stands for.
func ExampleConfig_opaqueAccessTokens() {
	srv := oidctest.NewServer(oidctest.Config{
		OpaqueAccessTokens: true,
		Clients: []oidctest.Client{
			{ID: "svc", Secret: "s3cret", AuthMethod: "client_secret_post"},
		},
	})
	defer srv.Close()

	_, tokens, err := postJSON(srv.Client(), srv.Issuer+"/token", url.Values{
		"grant_type": {"client_credentials"}, "scope": {"orders:read"},
		"client_id": {"svc"}, "client_secret": {"s3cret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, info, err := postJSON(srv.Client(), srv.Issuer+"/introspect", url.Values{
		"token":     {tokens["access_token"].(string)},
		"client_id": {"svc"}, "client_secret": {"s3cret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info["active"], info["client_id"], info["scope"], info["token_type"])
	// Output:
	// true svc orders:read Bearer
}
