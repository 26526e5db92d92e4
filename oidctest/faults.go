package oidctest

import (
	"net/http"
	"net/url"
	"time"
)

// Faults make the server misbehave, for negative tests. The zero value is
// correct behaviour. Set them with SetFaults; the edit functions run with
// the server's lock released and must be safe for concurrent use.
type Faults struct {
	// IDTokenClaims edits the claims of every ID token before signing,
	// e.g. to change iss, aud, nonce or exp.
	IDTokenClaims func(claims map[string]any)
	// IDTokenHeader edits the JWS header of every ID token. Setting "alg"
	// changes how it is signed: "none" leaves it unsigned, "HS256" keys it
	// with the client secret, other algorithms use the server's key. The
	// kid then names the signing key (or goes) unless the edit changed it;
	// for a kid that names another key, use Sign with SignOptions.Header.
	IDTokenHeader func(header map[string]any)
	// CorruptIDTokenSignature flips a bit in every ID token's signature.
	CorruptIDTokenSignature bool

	// AccessTokenClaims and AccessTokenHeader edit JWT access tokens the
	// same way. Opaque access tokens are not edited, and introspection
	// answers the claims as issued, before any edit.
	AccessTokenClaims func(claims map[string]any)
	AccessTokenHeader func(header map[string]any)

	// AuthorizationResponse edits the parameters sent back to the client's
	// redirect URI: delete "iss", change "state", …
	AuthorizationResponse func(params url.Values)
	// TokenResponse edits the JSON body of successful token responses.
	TokenResponse func(body map[string]any)
	// UserinfoClaims edits userinfo responses, e.g. another "sub".
	UserinfoClaims func(claims map[string]any)
	// Discovery edits the discovery document.
	Discovery func(doc map[string]any)

	// Endpoints makes endpoints fail, keyed by Endpoint name.
	Endpoints map[string]Failure
}

// Failure is how an endpoint misbehaves.
type Failure struct {
	// Delay waits before answering (or until the client gives up).
	Delay time.Duration
	// Status, when not zero, is answered with Body instead of the real
	// response. With only Delay set, the real response follows the delay.
	Status int
	Body   string
	// ContentType of Body; empty means application/json.
	ContentType string
}

// SetFaults replaces the server's faults; SetFaults(Faults{}) restores
// correct behaviour.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// applyFault answers r with the endpoint's failure, if any, and reports
// whether it did.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	f, ok := s.currentFaults().Endpoints[endpoint]
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-s.closed:
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}
