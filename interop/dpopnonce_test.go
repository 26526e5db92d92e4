package interop

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
)

// TestDPoPProviderNonce: a provider that wants a nonce in every DPoP proof
// answers the first token request with use_dpop_nonce; the client retries
// once with the nonce, then keeps using the nonces it is given.
func TestDPoPProviderNonce(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{DPoPNonces: true})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dpop := newDPoP(t)
	rec := &recorder{}
	c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret", DPoP: dpop, HTTPClient: rec.client()})
	tokenPath := strings.TrimPrefix(p.discovery(t).TokenEndpoint, p.Issuer)

	tok, err := c.ClientCredentials(ctx, client.Resource("urn:keyway:nonce-api"))
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decodeJWT(t, tok.AccessToken)
	if !strings.EqualFold(tok.Type(), "DPoP") || cnfJKT(claims) != dpop.Thumbprint() {
		t.Fatalf("token_type %q, cnf %v; want DPoP bound to %q", tok.Type(), claims["cnf"], dpop.Thumbprint())
	}
	var token []exchange
	for _, e := range rec.exchanges() {
		if e.Path == tokenPath {
			token = append(token, e)
		}
	}
	if len(token) != 2 {
		t.Fatalf("%d token requests, want 2 (use_dpop_nonce, then the retry)", len(token))
	}
	first, retry := token[0], token[1]
	nonce := first.RespHeader.Get("DPoP-Nonce")
	switch {
	case first.Status != http.StatusBadRequest || nonce == "":
		t.Errorf("first token request: %d, DPoP-Nonce %q; want 400 with a nonce", first.Status, nonce)
	case proofNonce(t, first.Header.Get("DPoP")) != "":
		t.Error("the first proof carried a nonce the client could not know")
	case retry.Status != http.StatusOK || proofNonce(t, retry.Header.Get("DPoP")) != nonce:
		t.Errorf("retry: %d with nonce %q; want 200 with %q", retry.Status, proofNonce(t, retry.Header.Get("DPoP")), nonce)
	}

	// The next token request uses the nonce it learnt: no second refusal.
	if _, err := c.ClientCredentials(ctx, client.Resource("urn:keyway:nonce-api")); err != nil {
		t.Fatal(err)
	}
	last := rec.exchanges()[len(rec.exchanges())-1]
	if last.Path != tokenPath || last.Status != http.StatusOK || proofNonce(t, last.Header.Get("DPoP")) == "" {
		t.Errorf("second token request: %s %d; want one 200 with a nonce in its proof", last.Path, last.Status)
	}
}

// proofNonce returns the nonce claim of a DPoP proof, "" when absent.
func proofNonce(t testing.TB, proof string) string {
	t.Helper()
	if proof == "" {
		t.Fatal("no DPoP proof")
	}
	_, claims := decodeJWT(t, proof)
	n, _ := claims["nonce"].(string)
	return n
}
