package oidctest_test

import (
	"fmt"
	"net/url"

	"github.com/keyway-go/keyway/oidctest"
)

// ExampleServer_tokenExchange exchanges an access token for one for
// another audience, acting for its subject (RFC 8693).
func ExampleServer_tokenExchange() {
	srv := oidctest.NewServer(oidctest.Config{
		OpaqueAccessTokens: true,
		Clients: []oidctest.Client{
			{ID: "gateway", Secret: "g", AuthMethod: "client_secret_post"},
			{ID: "orders", Secret: "o", AuthMethod: "client_secret_post"},
		},
	})
	defer srv.Close()

	_, incoming, err := postJSON(srv.Client(), srv.Issuer+"/token", url.Values{
		"grant_type": {"client_credentials"}, "scope": {"orders:read orders:write"},
		"client_id": {"gateway"}, "client_secret": {"g"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, exchanged, err := postJSON(srv.Client(), srv.Issuer+"/token", url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {incoming["access_token"].(string)},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":           {"orders-db"},
		"scope":              {"orders:read"},
		"client_id":          {"orders"}, "client_secret": {"o"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(exchanged["issued_token_type"], exchanged["scope"])
	_, info, _ := postJSON(srv.Client(), srv.Issuer+"/introspect", url.Values{
		"token": {exchanged["access_token"].(string)}, "client_id": {"orders"}, "client_secret": {"o"},
	})
	fmt.Println(info["sub"], info["client_id"], info["aud"])
	// Output:
	// urn:ietf:params:oauth:token-type:access_token orders:read
	// gateway orders orders-db
}
