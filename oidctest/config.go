package oidctest

import (
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config holds the server's settings. The zero value is usable: a demo user,
// no clients, RS256 tokens, five-minute access and ID tokens.
type Config struct {
	// Users who can log in. Empty means DemoUser only. In auto-approve
	// mode (Interactive false) the first user is logged in at once.
	Users []User

	// Clients registered at start; more can be added with AddClient.
	Clients []Client

	// Interactive shows an HTML login form at the authorization endpoint
	// instead of approving the first user at once. The demo uses it.
	Interactive bool

	// SigningAlg signs ID, access and logout tokens: RS256 (default),
	// ES256, EdDSA, or HS256 (ID tokens keyed with the client secret).
	SigningAlg string

	// IssuerPath is appended to the server URL to form the issuer, for
	// tests of issuers with a path (e.g. "/tenant-a").
	IssuerPath string

	// Token lifetimes. Zero means 5 minutes for access and ID tokens,
	// 24 hours for refresh tokens, 1 minute for codes and PAR requests.
	AccessTokenTTL  time.Duration
	IDTokenTTL      time.Duration
	RefreshTokenTTL time.Duration
	CodeTTL         time.Duration

	// DefaultAudience is the aud of access tokens issued without an RFC
	// 8707 resource parameter. Empty means the client ID.
	DefaultAudience string

	// RequirePAR makes pushed authorization requests mandatory and says
	// so in the discovery document.
	RequirePAR bool

	// NoRefreshRotation keeps the same refresh token across refreshes.
	// By default every refresh returns a new one and a reused old one
	// revokes the whole family (reuse detection).
	NoRefreshRotation bool

	// DeviceCodeTTL is how long a device code and its user code of the
	// RFC 8628 device authorization grant stay valid. Zero means 5
	// minutes.
	DeviceCodeTTL time.Duration

	// DeviceInterval is the polling interval the device grant asks for.
	// Zero means 5 seconds. The response rounds it up to whole seconds
	// (at least 1), but the token endpoint compares real durations, so a
	// test may set 50ms and poll quickly. A poll that comes sooner than
	// the interval after the previous one gets slow_down, and the
	// interval of that device code grows by 5 seconds.
	DeviceInterval time.Duration

	// DPoPProofWindow is how far a DPoP proof's iat may be from the
	// server's clock, either way (RFC 9449). Zero means 1 minute.
	DPoPProofWindow time.Duration

	// DPoPNonce makes DPoP proofs carry a server-provided nonce (RFC 9449
	// §8): a proof without the current or previous nonce is refused with
	// use_dpop_nonce, and every token and PAR response carries a
	// DPoP-Nonce header. Off by default.
	DPoPNonce bool

	// DPoPNonceTTL is how often the DPoP nonce changes; the previous one
	// stays accepted for one more period. Zero means 1 minute.
	DPoPNonceTTL time.Duration

	// OpaqueAccessTokens issues every access token as a random string
	// recorded at the server instead of a JWT; introspection and userinfo
	// answer for it. Client.OpaqueAccessTokens does the same for one
	// client. Faults that edit access tokens do not apply to opaque ones.
	OpaqueAccessTokens bool

	// Now is the server's clock; nil means time.Now.
	Now func() time.Time

	// HTTPClient posts back-channel logout tokens. Nil means a client
	// with a 10-second timeout.
	HTTPClient *http.Client
}

// User is an account at the server.
type User struct {
	Subject  string
	Username string
	Password string
	// Claims are returned in ID tokens and from userinfo: name, email, …
	Claims map[string]any
}

// DemoUser is the user a zero Config logs in.
var DemoUser = User{
	Subject:  "ada",
	Username: "ada",
	Password: "lovelace",
	Claims: map[string]any{
		"name":               "Ada Lovelace",
		"given_name":         "Ada",
		"family_name":        "Lovelace",
		"preferred_username": "ada",
		"email":              "ada@example.com",
		"email_verified":     true,
	},
}

// Client is a registered OAuth client.
type Client struct {
	ID     string
	Secret string
	// AuthMethod is the token endpoint authentication method:
	// client_secret_basic, client_secret_post, client_secret_jwt (an
	// HS256, HS384 or HS512 assertion keyed with Secret),
	// private_key_jwt or none. Empty means client_secret_basic with a
	// Secret, none without.
	AuthMethod string
	// JWKS holds the client's public keys for private_key_jwt.
	JWKS jose.JSONWebKeySet
	// RedirectURIs must match the redirect_uri of a request exactly, but
	// for the port of a loopback one registered without a port: for a
	// native app, http://127.0.0.1/callback allows
	// http://127.0.0.1:<any port>/callback (RFC 8252 §7.3), and likewise
	// [::1]. "localhost" gets no such allowance (§8.3).
	RedirectURIs []string
	// PostLogoutRedirectURIs are allowed post_logout_redirect_uri values.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens from SendBackchannelLogout.
	BackchannelLogoutURI string
	// DPoPBoundAccessTokens (the RFC 9449 client metadata) makes every
	// token request of the client carry a DPoP proof; one without is
	// refused with invalid_dpop_proof. False means proofs are optional:
	// a request with one still gets DPoP-bound tokens.
	DPoPBoundAccessTokens bool
	// OpaqueAccessTokens issues this client's access tokens as opaque
	// random strings, as Config.OpaqueAccessTokens does for all clients.
	OpaqueAccessTokens bool
}

func (c Client) authMethod() string {
	switch {
	case c.AuthMethod != "":
		return c.AuthMethod
	case c.Secret != "":
		return "client_secret_basic"
	}
	return "none"
}
