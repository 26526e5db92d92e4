package oidctest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// ExampleClient_dPoPBoundAccessTokens gets a DPoP-bound token (RFC 9449)
// for a client that must always send a proof.
func ExampleClient_dPoPBoundAccessTokens() {
	srv := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{ID: "svc", Secret: "s3cret", DPoPBoundAccessTokens: true}},
	})
	defer srv.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	claims, _ := json.Marshal(map[string]any{
		"jti": "proof-1", "htm": "POST", "htu": srv.Issuer + "/token", "iat": time.Now().Unix(),
	})
	jws, _ := signer.Sign(claims)
	proof, _ := jws.CompactSerialize()

	form := url.Values{"grant_type": {"client_credentials"}}
	for _, withProof := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodPost, srv.Issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", "s3cret")
		if withProof {
			req.Header.Set("DPoP", proof)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, body["error"], body["token_type"])
	}
	// Output:
	// 400 invalid_dpop_proof <nil>
	// 200 <nil> DPoP
}
