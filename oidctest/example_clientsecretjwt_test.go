package oidctest_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// ExampleClient_clientSecretJWT authenticates a client with an assertion
// keyed with its secret (client_secret_jwt, RFC 7523).
func ExampleClient_clientSecretJWT() {
	const secret = "a-secret-of-at-least-thirty-two-bytes!"
	srv := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{ID: "svc", Secret: secret, AuthMethod: "client_secret_jwt"}},
	})
	defer srv.Close()

	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	claims, _ := json.Marshal(map[string]any{
		"iss": "svc", "sub": "svc", "aud": srv.Issuer,
		"jti": "assertion-1", "exp": time.Now().Add(time.Minute).Unix(),
	})
	jws, _ := signer.Sign(claims)
	assertion, _ := jws.CompactSerialize()

	status, tokens, err := postJSON(srv.Client(), srv.Issuer+"/token", url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(status, tokens["token_type"])
	// Output:
	// 200 Bearer
}
