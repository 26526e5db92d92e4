// Package oidctest provides an OpenID Provider for tests and demos, in the
// spirit of net/http/httptest.
//
// NewServer starts a provider on a loopback address with discovery, a JWKS
// (RS256, ES256 and EdDSA keys, rotated on demand), an authorization
// endpoint that answers with RFC 9207's iss parameter (query or form_post),
// pushed authorization requests, a token endpoint (authorization code with
// PKCE S256 enforced, refresh tokens with rotation and reuse detection,
// client credentials, RFC 9068 JWT access tokens with the RFC 8707 resource
// as audience), userinfo, RP-initiated logout, revocation and
// introspection, and it can send back-channel logout tokens.
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
