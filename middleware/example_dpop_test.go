package middleware_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/oidctest"
)

// An API accepting DPoP-bound access tokens: the client proves on each
// request that it holds the key the token is bound to (RFC 9449). A
// proof is good for one request, and the token is useless without one.
func ExampleDPoPConfig() {
	provider := oidctest.NewServer(oidctest.Config{})
	defer provider.Close()
	v, err := middleware.New(context.Background(), middleware.Config{
		Issuer:    provider.Issuer,
		Audiences: []string{"https://api.example.com"},
		// The zero DPoPConfig accepts DPoP beside Bearer; Required: true
		// would accept DPoP only.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	api := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject())
	})))
	defer api.Close()

	client := newProofKey()
	token := boundToken(provider, client.thumbprint)
	proof := client.proof(http.MethodGet, api.URL+"/me", token, "")

	dpopGet(api.URL+"/me", "DPoP "+token, proof)
	dpopGet(api.URL+"/me", "DPoP "+token, proof) // the same proof again
	dpopGet(api.URL+"/me", "Bearer "+token, "")
	// Output:
	// 200 hello ada
	// 401 DPoP error="invalid_dpop_proof", error_description="the DPoP proof was used before", algs="ES256 RS256 PS256 EdDSA"
	// 401 Bearer error="invalid_token", error_description="the access token is sender-constrained and cannot be used as a bearer token"
}

// With a NonceKey, proofs must carry a nonce the API issued: the first
// request learns it from the DPoP-Nonce header of a use_dpop_nonce error.
// Replicas sharing the key accept each other's nonces.
func ExampleDPoPConfig_nonce() {
	provider := oidctest.NewServer(oidctest.Config{})
	defer provider.Close()
	v, err := middleware.New(context.Background(), middleware.Config{
		Issuer:    provider.Issuer,
		Audiences: []string{"https://api.example.com"},
		DPoP: middleware.DPoPConfig{
			NonceKey: []byte("a secret of at least 32 bytes, shared by replicas"),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	api := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})))
	defer api.Close()

	client := newProofKey()
	token := boundToken(provider, client.thumbprint)
	nonce := dpopGet(api.URL+"/data", "DPoP "+token, client.proof(http.MethodGet, api.URL+"/data", token, ""))
	dpopGet(api.URL+"/data", "DPoP "+token, client.proof(http.MethodGet, api.URL+"/data", token, nonce))
	// Output:
	// 401 DPoP error="use_dpop_nonce", error_description="the resource server requires a nonce in the DPoP proof", algs="ES256 RS256 PS256 EdDSA"
	// 200 ok
}

// proofKey is a client's DPoP key.
type proofKey struct {
	signer     jose.Signer
	thumbprint string
}

func newProofKey() *proofKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		log.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	return &proofKey{signer: signer, thumbprint: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof makes a proof for a request of method to u with token.
func (k *proofKey) proof(method, u, token, nonce string) string {
	ath := sha256.Sum256([]byte(token))
	claims := map[string]any{
		"jti": rand.Text(),
		"htm": method,
		"htu": u,
		"iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(ath[:]),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	jws, err := k.signer.Sign(payload)
	if err != nil {
		log.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// boundToken is an access token of provider bound to the key of
// thumbprint jkt, as an authorization server issues it to a DPoP client.
func boundToken(provider *oidctest.Server, jkt string) string {
	token, err := provider.Sign(map[string]any{
		"iss": provider.Issuer,
		"aud": "https://api.example.com",
		"sub": "ada",
		"exp": time.Now().Add(time.Hour).Unix(),
		"cnf": map[string]any{"jkt": jkt},
	}, oidctest.SignOptions{Type: "at+jwt"})
	if err != nil {
		log.Fatal(err)
	}
	return token
}

// dpopGet prints the status and the body, or the challenge holding the
// error; it returns the DPoP-Nonce header of the response.
func dpopGet(u, authorization, proof string) string {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		for _, c := range resp.Header.Values("WWW-Authenticate") {
			if strings.Contains(c, "error=") {
				fmt.Println(resp.StatusCode, c)
			}
		}
		return resp.Header.Get("DPoP-Nonce")
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	return resp.Header.Get("DPoP-Nonce")
}
