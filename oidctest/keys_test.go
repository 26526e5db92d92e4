package oidctest_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"slices"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

func TestJWKS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	set := fetchJWKS(t, srv)
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3", len(set.Keys))
	}
	seen := map[string]bool{}
	for _, k := range set.Keys {
		if k.KeyID == "" || seen[k.KeyID] {
			t.Errorf("kid %q is empty or repeated", k.KeyID)
		}
		seen[k.KeyID] = true
		if k.Use != "sig" {
			t.Errorf("kid %s: use = %q, want sig", k.KeyID, k.Use)
		}
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("kid %s: not a valid public key", k.KeyID)
		}
		switch key := k.Key.(type) {
		case *rsa.PublicKey:
			if k.Algorithm != "RS256" || key.N.BitLen() < 2048 {
				t.Errorf("kid %s: RSA key of %d bits for %s", k.KeyID, key.N.BitLen(), k.Algorithm)
			}
		case *ecdsa.PublicKey:
			if k.Algorithm != "ES256" || key.Curve != elliptic.P256() {
				t.Errorf("kid %s: EC key on %s for %s", k.KeyID, key.Curve.Params().Name, k.Algorithm)
			}
		case ed25519.PublicKey:
			if k.Algorithm != "EdDSA" {
				t.Errorf("kid %s: OKP key for %s", k.KeyID, k.Algorithm)
			}
		default:
			t.Errorf("kid %s: unexpected key type %T", k.KeyID, k.Key)
		}
	}
	if got := algsOf(set); !sameSet(got, []string{"RS256", "ES256", "EdDSA"}) {
		t.Errorf("algorithms = %v, want one key each for RS256, ES256, EdDSA", got)
	}
	if got, want := kidsOf(srv.JWKS()), kidsOf(set); !slices.Equal(got, want) {
		t.Errorf("JWKS() kids = %v, published %v", got, want)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{SigningAlg: alg})
			oldKids := kidsOf(fetchJWKS(t, srv))
			before := login(t, srv, nil)

			if err := srv.RotateKeys(); err != nil {
				t.Fatalf("RotateKeys: %v", err)
			}
			rotated := kidsOf(fetchJWKS(t, srv))
			newKids := without(rotated, oldKids)
			if len(rotated) != 6 || len(newKids) != 3 {
				t.Fatalf("after RotateKeys the JWKS holds %v, want the old %v and three new keys", rotated, oldKids)
			}
			after := login(t, srv, nil)
			for name, tok := range map[string]string{"ID token": after.IDToken, "access token": after.AccessToken} {
				header, _ := decodeJWT(t, tok)
				if kid, _ := header["kid"].(string); !slices.Contains(newKids, kid) || header["alg"] != alg {
					t.Errorf("%s after rotation: kid %v alg %v, want a new %s key of %v", name, kid, header["alg"], alg, newKids)
				}
				verifyJWT(t, srv, tok)
			}
			verifyJWT(t, srv, before.IDToken) // old keys stay published
			verifyJWT(t, srv, before.AccessToken)

			srv.RetireKeys()
			set := fetchJWKS(t, srv)
			if got := kidsOf(set); !sameSet(got, newKids) {
				t.Fatalf("after RetireKeys the JWKS holds %v, want %v", got, newKids)
			}
			if _, err := verifyWithJWKS(set, before.IDToken); err == nil {
				t.Error("a token signed by a retired key still verifies")
			}
			verifyJWT(t, srv, after.IDToken)
		})
	}
}

func kidsOf(set jose.JSONWebKeySet) []string {
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func algsOf(set jose.JSONWebKeySet) []string {
	var algs []string
	for _, k := range set.Keys {
		algs = append(algs, k.Algorithm)
	}
	return algs
}

// without returns the elements of a not in b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
