package oidctest

import (
	"net/http"
	"slices"
)

// Metadata returns the discovery document the server publishes (before
// any Faults.Discovery edit).
func (s *Server) Metadata() map[string]any {
	iss := s.Issuer
	algs := []string{RS256, ES256, EdDSA}
	if s.cfg.SigningAlg == HS256 {
		algs = append(algs, HS256)
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
	return map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"userinfo_endpoint":                     iss + "/userinfo",
		"jwks_uri":                              iss + "/jwks",
		"end_session_endpoint":                  iss + "/end_session",
		"revocation_endpoint":                   iss + "/revoke",
		"introspection_endpoint":                iss + "/introspect",
		"pushed_authorization_request_endpoint": iss + "/par",
		"device_authorization_endpoint":         iss + "/device_authorization",
		"require_pushed_authorization_requests": s.cfg.RequirePAR,
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query", "form_post"},
		"grant_types_supported": []string{"authorization_code", "refresh_token", "client_credentials",
			grantTypeDeviceCode, grantTypeTokenExchange},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            algs,
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            authMethods,
		"token_endpoint_auth_signing_alg_values_supported": []string{RS256, ps256, ES256, EdDSA, "HS256", "HS384", "HS512"},
		"dpop_signing_alg_values_supported":                slices.Clone(dpopAlgs),
		"revocation_endpoint_auth_methods_supported":       authMethods,
		"introspection_endpoint_auth_methods_supported":    authMethods,
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "sid",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified"},
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
	}
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	doc := s.Metadata()
	if f := s.currentFaults().Discovery; f != nil {
		f(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) jwksHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.JWKS())
}
