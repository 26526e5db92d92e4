// Package oidctest provides an OpenID Provider for tests and demos, in the
// spirit of net/http/httptest.
//
// NewServer starts a provider on a loopback address with discovery, a JWKS
// (RS256, ES256 and EdDSA keys, rotated on demand), an authorization
// endpoint that answers with RFC 9207's iss parameter (query or form_post),
// pushed authorization requests, a token endpoint (authorization code with
// PKCE S256 enforced, refresh tokens with rotation and reuse detection,
// client credentials, the RFC 8628 device authorization grant, RFC 8693
// token exchange; RFC 9068 JWT access tokens with the RFC 8707 resource as
// audience, or opaque ones), userinfo, RP-initiated logout, revocation and
// introspection, and it can send back-channel logout tokens. Clients
// authenticate with client_secret_basic, client_secret_post,
// client_secret_jwt, private_key_jwt or not at all (public clients).
//
// DPoP (RFC 9449) works at the token, PAR and userinfo endpoints: a token
// request with a valid proof gets tokens bound to the proof's key (cnf.jkt,
// token_type DPoP), a public client's refresh token is bound too, dpop_jkt
// binds an authorization code, and Config.DPoPNonce makes the server hand
// out nonces. Device grants are approved with Server.ApproveDevice, or by
// a user at the HTML page the verification_uri names.
//
//	srv := oidctest.NewServer(oidctest.Config{
//		Clients: []oidctest.Client{{
//			ID: "app", Secret: "s3cret",
//			RedirectURIs: []string{"http://127.0.0.1:8080/callback"},
//		}},
//	})
//	defer srv.Close()
//	// point the code under test at srv.Issuer
//
// By default the authorization endpoint logs the first configured user
// (DemoUser if none) in at once; with Config.Interactive it shows a login
// form instead. Requests returns what the server received, so a test can
// assert, say, that the token endpoint was called exactly once, and Faults
// make it misbehave: altered ID-token claims or headers, a corrupt
// signature, a missing or wrong iss or state, failing or slow endpoints.
//
// oidctest is for tests and demos only: it keeps everything in memory,
// trusts loopback, and its checks are those a client needs to be tested
// against, not those a production provider needs.
package oidctest
