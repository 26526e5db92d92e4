package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/jwks"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/keyway-go/keyway/middleware"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// leeway is the clock skew every library is given where it lets one be set
// (Keyway's default).
const leeway = time.Minute

// verified is what every library hands a handler: the subject and the raw
// scope claim, so that each one decodes the claims an API needs.
type verified struct {
	sub, scope string
}

// verifyFunc verifies a compact token with one library and its settings.
type verifyFunc func(ctx context.Context, token string) (verified, error)

// lib is one way of validating access tokens of one algorithm.
type lib struct {
	name   string
	verify verifyFunc
	// handler wraps next in the library's middleware, or in bearerHandler
	// when the library ships none.
	handler func(next http.Handler) http.Handler
}

// keywayConfig is Keyway's configuration for is, with the verified-token
// cache of the given size (0: the default 10,000; negative: none).
func keywayConfig(is *issuer, cacheSize int) middleware.Config {
	return middleware.Config{
		Issuer:    is.url,
		JWKSURL:   is.jwksURL,
		Audiences: []string{audience},
		CacheSize: cacheSize,
	}
}

func newKeyway(tb testing.TB, name string, cfg middleware.Config) *lib {
	tb.Helper()
	v, err := middleware.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &lib{
		name: name,
		verify: func(ctx context.Context, token string) (verified, error) {
			c, err := v.Verify(ctx, token)
			if err != nil {
				return verified{}, err
			}
			s, _ := c.Get("scope")
			scope, _ := s.(string)
			return verified{c.Subject(), scope}, nil
		},
		handler: v.Handler,
	}
}

// golangJWTClaims are the claims golang-jwt decodes.
type golangJWTClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// newGolangJWT is golang-jwt/jwt v5 with keyfunc v3 (jwkset) fetching and
// caching the key set, configured as its documentation shows.
func newGolangJWT(tb testing.TB, is *issuer, alg string) *lib {
	tb.Helper()
	kf, err := keyfunc.NewDefaultCtx(context.Background(), []string{is.jwksURL})
	if err != nil {
		tb.Fatal(err)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(is.url),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)
	verify := func(ctx context.Context, token string) (verified, error) {
		var c golangJWTClaims
		if _, err := parser.ParseWithClaims(token, &c, kf.KeyfuncCtx(ctx)); err != nil {
			return verified{}, err
		}
		return verified{c.Subject, c.Scope}, nil
	}
	return &lib{name: "golang-jwt", verify: verify, handler: bearerHandler(verify)}
}

// auth0Claims are the custom claims auth0's validator decodes, as its
// documentation does for scope checks.
type auth0Claims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

func (*auth0Claims) Validate(context.Context) error { return nil }

// newAuth0 is auth0/go-jwt-middleware v2: its validator with a
// CachingProvider for the key set, and its CheckJWT middleware.
func newAuth0(tb testing.TB, is *issuer, alg string) *lib {
	tb.Helper()
	issuerURL, err := url.Parse(is.url)
	if err != nil {
		tb.Fatal(err)
	}
	jwksURL, err := url.Parse(is.jwksURL)
	if err != nil {
		tb.Fatal(err)
	}
	provider := jwks.NewCachingProvider(issuerURL, 5*time.Minute, jwks.WithCustomJWKSURI(jwksURL))
	v, err := validator.New(provider.KeyFunc, validator.SignatureAlgorithm(alg), is.url, []string{audience},
		validator.WithAllowedClockSkew(leeway),
		validator.WithCustomClaims(func() validator.CustomClaims { return &auth0Claims{} }),
	)
	if err != nil {
		tb.Fatal(err)
	}
	mw := jwtmiddleware.New(v.ValidateToken)
	return &lib{
		name: "auth0",
		verify: func(ctx context.Context, token string) (verified, error) {
			res, err := v.ValidateToken(ctx, token)
			if err != nil {
				return verified{}, err
			}
			vc := res.(*validator.ValidatedClaims)
			return verified{vc.RegisteredClaims.Subject, vc.CustomClaims.(*auth0Claims).Scope}, nil
		},
		handler: mw.CheckJWT,
	}
}

// newGoOIDC is coreos/go-oidc v3's verifier with its RemoteKeySet, the
// audience checked through Config.ClientID; the scope comes from a second
// decoding of the claims (IDToken.Claims), as an API using it would do.
func newGoOIDC(tb testing.TB, is *issuer, alg string) *lib {
	tb.Helper()
	ks := oidc.NewRemoteKeySet(context.Background(), is.jwksURL)
	ver := oidc.NewVerifier(is.url, ks, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{alg}})
	verify := func(ctx context.Context, token string) (verified, error) {
		t, err := ver.Verify(ctx, token)
		if err != nil {
			return verified{}, err
		}
		var c struct {
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		}
		if err := t.Claims(&c); err != nil {
			return verified{}, err
		}
		return verified{t.Subject, c.Scope}, nil
	}
	return &lib{name: "go-oidc", verify: verify, handler: bearerHandler(verify)}
}

// newJWX is lestrrat-go/jwx v3: a jwk.Cache keeps the key set, jwt.Parse
// verifies and validates.
func newJWX(tb testing.TB, is *issuer) *lib {
	tb.Helper()
	ctx := context.Background()
	cache, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		tb.Fatal(err)
	}
	if err := cache.Register(ctx, is.jwksURL); err != nil {
		tb.Fatal(err)
	}
	set, err := cache.CachedSet(is.jwksURL)
	if err != nil {
		tb.Fatal(err)
	}
	opts := []jwxjwt.ParseOption{
		jwxjwt.WithKeySet(set),
		jwxjwt.WithIssuer(is.url),
		jwxjwt.WithAudience(audience),
		jwxjwt.WithRequiredClaim("exp"),
		jwxjwt.WithAcceptableSkew(leeway),
	}
	verify := func(_ context.Context, token string) (verified, error) {
		t, err := jwxjwt.ParseString(token, opts...)
		if err != nil {
			return verified{}, err
		}
		sub, _ := t.Subject()
		var scope string
		if err := t.Get("scope", &scope); err != nil {
			return verified{}, err
		}
		return verified{sub, scope}, nil
	}
	return &lib{name: "jwx", verify: verify, handler: bearerHandler(verify)}
}

type verifiedKey struct{}

// auth0ContextKey is where auth0's CheckJWT puts the validated claims.
var auth0ContextKey = jwtmiddleware.ContextKey{}

// bearerHandler is the smallest middleware around a library that ships
// none: the Bearer token of the Authorization header is verified and the
// result put in the request context; any failure is a bare 401.
func bearerHandler(verify verifyFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			v, err := verify(r.Context(), token)
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, &v)))
		})
	}
}

// floorToken is a token reduced to what the bare signature check needs,
// decoded ahead of time.
type floorToken struct {
	input []byte // the JWS signing input: header.payload
	sig   []byte // RSA: the signature; ECDSA: r||s re-encoded as ASN.1 DER; Ed25519: the signature
}

// newFloor is the raw-crypto floor: the standard library's signature check
// over the signing input with the public key at hand and the signature
// already decoded, and nothing else (no parsing, no claims, no key lookup).
func newFloor(tb testing.TB, is *issuer, alg string, tokens []string) func(i int) error {
	tb.Helper()
	return signatureFloor(tb, is.signers[alg].key.Public(), alg, floorTokens(tb, alg, tokens))
}

// floorTokens decodes the signatures of tokens, compact JWSs signed with
// alg, ahead of time.
func floorTokens(tb testing.TB, alg string, tokens []string) []floorToken {
	tb.Helper()
	ft := make([]floorToken, len(tokens))
	for i, tok := range tokens {
		dot := strings.LastIndexByte(tok, '.')
		sig, err := b64.DecodeString(tok[dot+1:])
		if err != nil {
			tb.Fatal(err)
		}
		if alg == "ES256" {
			sig = derSignature(sig)
		}
		ft[i] = floorToken{input: []byte(tok[:dot]), sig: sig}
	}
	return ft
}

// signatureFloor is the floor over ft, prepared for the public key pub of
// alg: the hash and the standard library's verify, nothing else.
func signatureFloor(tb testing.TB, pub crypto.PublicKey, alg string, ft []floorToken) func(i int) error {
	tb.Helper()
	errBad := errors.New("floor: bad signature")
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return func(i int) error {
			d := sha256.Sum256(ft[i].input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], ft[i].sig)
		}
	case *ecdsa.PublicKey:
		return func(i int) error {
			d := sha256.Sum256(ft[i].input)
			if !ecdsa.VerifyASN1(pub, d[:], ft[i].sig) {
				return errBad
			}
			return nil
		}
	case ed25519.PublicKey:
		return func(i int) error {
			if !ed25519.Verify(pub, ft[i].input, ft[i].sig) {
				return errBad
			}
			return nil
		}
	}
	tb.Fatalf("no floor for %s", alg)
	return nil
}

// derSignature re-encodes a JWS ECDSA signature (r||s) as ASN.1 DER, the
// form ecdsa.VerifyASN1 takes.
func derSignature(rs []byte) []byte {
	r := new(big.Int).SetBytes(rs[:len(rs)/2])
	s := new(big.Int).SetBytes(rs[len(rs)/2:])
	var out []byte
	for _, n := range []*big.Int{r, s} {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		out = append(out, 0x02, byte(len(b)))
		out = append(out, b...)
	}
	return append([]byte{0x30, byte(len(out))}, out...)
}
