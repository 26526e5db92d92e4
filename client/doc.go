// Package client is an OAuth 2.0 client for the authorization code flow,
// built on golang.org/x/oauth2's token type and PKCE helpers.
//
// It owns the security checks: every authorization request carries PKCE
// (S256), a fresh state and a fresh nonce; ParseResponse checks state and
// the RFC 9207 iss parameter before it believes anything else in the
// response; requests can be pushed (PAR, RFC 9126); the client
// authenticates with client_secret_basic, client_secret_post,
// private_key_jwt or none; every call has a timeout and a response-size
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
// The client does not verify ID tokens, discover endpoints or keep login
// state between requests: the rp package does that on top of it.
package client
