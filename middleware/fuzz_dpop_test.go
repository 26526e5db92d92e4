package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/internal/testenv"
)

// dpopSentinels are the errors every refusal of a request must wrap.
var dpopSentinels = []error{
	ErrNoToken, ErrInvalidRequest, ErrMalformed, ErrInvalidSignature, ErrUnknownKey, ErrExpired,
	ErrInvalidClaims, ErrInvalidType, ErrSenderConstrained, ErrInvalidDPoPProof, ErrUseDPoPNonce,
	ErrDPoPBinding, ErrReplayCacheFailed,
}

// neverSeen is a ReplayCache that remembers nothing, so that one valid
// proof stays valid for every input of the fuzzer.
type neverSeen struct{}

func (neverSeen) Seen(context.Context, string, time.Time) (bool, error) { return false, nil }

// dpopFuzzTime is the fixed time of the fuzz fixture, when its token and
// proofs are valid.
var dpopFuzzTime = time.Unix(1_900_000_000, 0)

// seededKey returns the Ed25519 key made from label: the same in every run.
func seededKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("keyway fuzz " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

// dpopFuzzFixture is a validator at dpopFuzzTime trusting a fixed issuer
// key, a token from it bound to a fixed client key, and clients (EdDSA and
// ES256) with fixed keys, so that proofs checked in as seeds stay valid.
type dpopFuzzFixture struct {
	*fixture
	token   string
	clients []*dpopClient
}

func newDPoPFuzzFixture(t testing.TB) *dpopFuzzFixture {
	t.Helper()
	iss := newOwnIssuer(t)
	issuerKey := seededKey("issuer")
	iss.setKeys(t, publicJWK(t, issuerKey, "k1", "EdDSA", "sig"))
	f := &fixture{clock: testenv.NewClock(dpopFuzzTime), n: &counters{}}
	v, err := New(context.Background(), Config{
		Issuer:     "https://issuer.example.com",
		JWKSURL:    iss.URL + "/jwks",
		Audiences:  []string{testAudience},
		Algorithms: []string{"EdDSA"},
		Now:        f.clock.Now,
		DPoP:       DPoPConfig{ReplayCache: neverSeen{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	f.v = v
	d := sha256.Sum256([]byte("keyway fuzz es256"))
	ecKey, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	fx := &dpopFuzzFixture{fixture: f, clients: []*dpopClient{
		dpopClientWith(t, "EdDSA", seededKey("client")),
		dpopClientWith(t, "ES256", ecKey),
	}}
	fx.token = signOwn(t, "EdDSA", issuerKey, map[string]any{"kid": "k1"}, map[string]any{
		"iss": "https://issuer.example.com",
		"aud": testAudience,
		"sub": "ada",
		"iat": dpopFuzzTime.Unix(),
		"exp": dpopFuzzTime.Add(time.Hour).Unix(),
		"cnf": map[string]any{"jkt": fx.clients[0].jkt},
	})
	return fx
}

// signedByClient reports whether proof is a JWS that one of the clients'
// keys signed, as go-jose (not this package) verifies it.
func (fx *dpopFuzzFixture) signedByClient(proof string) bool {
	jws, err := jose.ParseSigned(strings.TrimSpace(proof), []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return false
	}
	for _, c := range fx.clients {
		if _, err := jws.Verify(c.key.Public()); err == nil {
			return true
		}
	}
	return false
}

// FuzzDPoPProof feeds arbitrary Authorization and DPoP header values to
// Check. It must never panic nor take long, must refuse with one of the
// sentinels, and may accept only the fixture's token with a proof the
// client signed (the fuzzer cannot forge a signature). An empty
// authorization stands for "DPoP <the fixture's token>", so that the
// proof checks are reached with any proof.
func FuzzDPoPProof(f *testing.F) {
	fx := newDPoPFuzzFixture(f)
	auth := "DPoP " + fx.token
	ed := fx.clients[0]
	valid := ed.proofFor(f, fx.fixture, fx.token, nil)
	if _, err := fx.v.Check(dpopRequest(http.MethodGet, dpopTarget, fx.token, valid)); err != nil {
		f.Fatalf("the fixture's valid proof is refused: %v", err)
	}
	f.Add("", valid)
	f.Add(auth, ed.proofFor(f, fx.fixture, fx.token, set("htm", "POST")))
	f.Add("", ed.proofFor(f, fx.fixture, fx.token, setHeader("jwk", privateJWK(f, ed.key))))
	f.Add("", fx.clients[1].proofFor(f, fx.fixture, fx.token, nil))
	f.Add("Bearer "+fx.token, "")
	f.Add("DPoP", "a.b.c")
	f.Add("dpop  "+fx.token+" ", strings.Repeat(".", 100))

	f.Fuzz(func(t *testing.T, authorization, proof string) {
		r := httptest.NewRequest(http.MethodGet, dpopTarget, nil)
		switch authorization {
		case "":
			r.Header.Set("Authorization", auth)
		default:
			r.Header["Authorization"] = []string{authorization}
		}
		if proof != "" {
			r.Header["Dpop"] = []string{proof}
		}
		start := time.Now()
		c, err := fx.v.Check(r)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Check took %v", d)
		}
		if err == nil {
			if c == nil || c.Subject() != "ada" || c.DPoPThumbprint() != ed.jkt {
				t.Fatalf("accepted with claims %+v", c)
			}
			if !isDPoPRequest(r) || !fx.signedByClient(proof) {
				t.Fatalf("accepted a proof the client did not sign: %q %q", authorization, proof)
			}
			return
		}
		if c != nil {
			t.Fatalf("refused (%v) with claims", err)
		}
		for _, s := range dpopSentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("refusal without a sentinel: %v", err)
	})
}

// TestDPoPFuzzCorpus: the checked-in seeds named valid-… are accepted and
// the others refused, so that the corpus keeps exercising both paths.
func TestDPoPFuzzCorpus(t *testing.T) {
	t.Parallel()
	fx := newDPoPFuzzFixture(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDPoPProof")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("corpus: %v", err)
	}
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: %d lines", e.Name(), len(lines))
		}
		var args [2]string
		for i, l := range lines[1:] {
			if args[i], err = strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(l, "string("), ")")); err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
		}
		if args[0] == "" {
			args[0] = "DPoP " + fx.token
		}
		r := httptest.NewRequest(http.MethodGet, dpopTarget, nil)
		r.Header.Set("Authorization", args[0])
		r.Header.Set("DPoP", args[1])
		_, err = fx.v.Check(r)
		if valid := strings.HasPrefix(e.Name(), "valid-"); valid != (err == nil) {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
}
