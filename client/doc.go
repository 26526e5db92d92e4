// Package client is an OAuth 2.0 client: the authorization code flow, the
// client credentials, device and token exchange grants, native-app login
// and authorization server discovery, built on golang.org/x/oauth2's token
// type and PKCE helpers.
//
// It owns the security checks: every authorization request carries PKCE
// (S256), a fresh state and a fresh nonce; ParseResponse checks state and
// the RFC 9207 iss parameter before it believes anything else in the
// response; requests can be pushed (PAR, RFC 9126); the client
// authenticates with client_secret_basic, client_secret_post,
// client_secret_jwt, private_key_jwt or none; every call has a timeout and a response-size
// cap; and a TokenSource refreshes once for any number of concurrent
// callers and reports rotated tokens so they can be saved.
//
//	c, err := client.New(client.Config{
//		ClientID: "app", ClientSecret: secret,
//		Endpoint: client.Endpoint{Issuer: iss, AuthURL: iss + "/authorize", TokenURL: iss + "/token"},
//		RedirectURL: "https://app.example/callback", Scopes: []string{"openid", "offline_access"},
//	})
//	req, err := c.AuthCodeURL(ctx)            // redirect to req.URL; keep req safe
//	code, err := c.ParseResponse(r.Form, req) // in the callback handler
//	tok, err := c.Exchange(ctx, code, req)
//	api := c.HTTPClientFor(c.TokenSource(tok, client.OnRotate(save)))
//
// The client does not verify ID tokens or keep login state between
// requests: the rp package does that on top of it.
//
// # Discovery
//
// Discover reads an authorization server's RFC 8414 metadata (falling back
// to the OpenID Connect document), insists that it names the issuer asked
// for, and Metadata.Endpoint turns it into a Config's Endpoint:
//
//	m, err := client.Discover(ctx, "https://as.example/tenant", nil)
//	c, err := client.New(client.Config{ClientID: "svc", ClientSecret: secret, Endpoint: m.Endpoint()})
//
// # Client credentials
//
// A service calling APIs on its own behalf (RFC 6749 §4.4) uses
// ClientCredentials for one token, or ClientCredentialsSource for a
// TokenSource that asks for a new token shortly before the current one
// expires, once for any number of concurrent callers:
//
//	src := c.ClientCredentialsSource(client.RefreshWith(client.Resource("https://api.example")))
//	api := c.HTTPClientFor(src)
//
// With AuthClientSecretJWT the client proves it knows its secret with an
// HMAC-signed assertion instead of sending it.
//
// # Device grant
//
// A device with no browser or little input (RFC 8628) calls DeviceAuth, shows
// the user the code and the verification URI, and polls with DeviceToken
// until the user has approved (or denied, or the code expired). Polling
// honours the server's interval and slow_down, and always ends:
//
//	da, err := c.DeviceAuth(ctx)
//	fmt.Printf("Go to %s and enter %s\n", da.VerificationURI, da.UserCode)
//	tok, err := c.DeviceToken(ctx, da) // ErrAccessDenied, ErrDeviceExpired
//
// # Native apps
//
// LoopbackLogin logs a user in from a command-line or desktop app (RFC
// 8252): it listens on a loopback address, sends the browser to the
// authorization URL (PKCE, state, nonce), takes the one redirect that
// carries the right state, redeems the code and shuts the listener down:
//
//	tok, err := c.LoopbackLogin(ctx, client.LoopbackConfig{Open: openBrowser})
//
// # Token exchange
//
// TokenExchange (RFC 8693) trades a token for another one, e.g. for a
// downstream API, on behalf of the same user, with a narrower scope:
//
//	tok, err := c.TokenExchange(ctx, client.TokenExchangeRequest{
//		SubjectToken: incoming, Audience: []string{"orders"}, Scopes: []string{"read"},
//	})
//
// # DPoP
//
// With Config.DPoP the client's tokens are bound to a key it holds (RFC
// 9449), so that a leaked access or refresh token is useless without the
// key. Token and PAR requests carry a DPoP proof, authorization requests
// carry dpop_jkt (binding the code too), and the *http.Client of
// HTTPClientFor sends DPoP-bound access tokens with a fresh proof per
// request. When a server asks for a nonce (use_dpop_nonce), the request is
// retried once with it; nonces are remembered per origin. A server that
// does not do DPoP issues bearer tokens, which are then used as such.
//
//	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // or an HSM/KMS crypto.Signer
//	dpop, err := client.NewDPoP(key, "")                      // ES256
//	c, err := client.New(client.Config{ClientID: "app", Endpoint: ep, DPoP: dpop})
//	tok, err := c.Exchange(ctx, code, req)     // tok.TokenType == "DPoP"
//	api := c.HTTPClientFor(c.TokenSource(tok)) // Authorization: DPoP …, plus a DPoP proof
//
// A DPoP can also be used alone: Transport.DPoP for a hand-made
// Transport, or Proof and SetNonce for requests made otherwise.
package client
