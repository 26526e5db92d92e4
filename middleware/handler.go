package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Check finds the access token of r and verifies it with r's context (see
// Verify). The token is taken from the one Authorization header with the
// Bearer scheme (case-insensitive), or, when there is no Authorization
// header and Config.Cookie is set, from that cookie. It fails with
// ErrInvalidRequest for more than one Authorization header, an empty
// Bearer credential or an access_token query parameter (RFC 6750 §2.3 is
// refused: URLs end up in logs), and with ErrNoToken when there is no
// token, including for another scheme (Basic, DPoP). Form-encoded body
// tokens are not read. Check does not look at scopes.
func (v *Validator) Check(r *http.Request) (*Claims, error) {
	token, err := v.token(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), token)
}

func (v *Validator) token(r *http.Request) (string, error) {
	if q := r.URL.RawQuery; strings.Contains(q, "access") || strings.Contains(q, "%") {
		// Parsed only when the key may be there, even percent-encoded.
		if v, _ := url.ParseQuery(q); v.Has("access_token") {
			return "", errTokenInQuery
		}
	}
	auth := r.Header["Authorization"]
	switch {
	case len(auth) > 1:
		return "", errTwoAuthorizations
	case len(auth) == 1:
		scheme, token, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", ErrNoToken
		}
		if token = strings.TrimLeft(token, " "); token == "" {
			return "", errEmptyBearer
		}
		return token, nil
	case v.cookie != "":
		if c, err := r.Cookie(v.cookie); err == nil && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", ErrNoToken
}

// Handler returns a handler that serves a request with h when Check
// accepts it, with the claims in the request context (see ClaimsFrom),
// and otherwise calls Config.ErrorHandler. Requests matching
// Config.OptionalPatterns without a token go to h without claims.
func (v *Validator) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Check(r)
		switch {
		case err == nil:
			h.ServeHTTP(w, r.WithContext(withClaims(r.Context(), c)))
		case errors.Is(err, ErrNoToken) && v.isOptional(r):
			h.ServeHTTP(w, r)
		default:
			v.refuse(w, r, err)
		}
	})
}

func (v *Validator) isOptional(r *http.Request) bool {
	if v.optional == nil {
		return false
	}
	_, pattern := v.optional.Handler(r)
	return pattern != ""
}

// refuse logs err and hands the request to the error handler.
func (v *Validator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	v.logger.DebugContext(r.Context(), "middleware: request refused",
		"method", r.Method, "path", r.URL.Path, "error", err)
	v.errorHandler(w, r, err)
}

// rfc6750 is how an error is answered.
type rfc6750 struct {
	status      int
	code        string // "" for the bare challenge
	description string
}

// describe maps err to its response. Descriptions are fixed texts: nothing
// from the request or token is ever echoed.
func describe(err error) rfc6750 {
	invalid := func(d string) rfc6750 { return rfc6750{http.StatusUnauthorized, "invalid_token", d} }
	switch {
	case errors.Is(err, ErrNoToken):
		return rfc6750{http.StatusUnauthorized, "", "a bearer access token is required"}
	case errors.Is(err, errTwoAuthorizations):
		return rfc6750{http.StatusBadRequest, "invalid_request", "more than one Authorization header"}
	case errors.Is(err, errTokenInQuery):
		return rfc6750{http.StatusBadRequest, "invalid_request", "access tokens in the query string are not accepted; use the Authorization header"}
	case errors.Is(err, ErrInvalidRequest):
		return rfc6750{http.StatusBadRequest, "invalid_request", "the request is malformed"}
	case errors.Is(err, ErrInsufficientScope):
		return rfc6750{http.StatusForbidden, "insufficient_scope", "the access token does not grant access to this resource"}
	case errors.Is(err, ErrMalformed):
		return invalid("the access token is malformed")
	case errors.Is(err, ErrInvalidSignature):
		return invalid("the access token signature is invalid")
	case errors.Is(err, ErrUnknownKey):
		return invalid("the access token is signed with an unknown key")
	case errors.Is(err, ErrExpired):
		return invalid("the access token expired")
	case errors.Is(err, ErrInvalidIssuer):
		return invalid("the access token issuer is not accepted")
	case errors.Is(err, ErrInvalidAudience):
		return invalid("the access token is not meant for this resource")
	case errors.Is(err, ErrInvalidType):
		return invalid("the token is not an access token")
	case errors.Is(err, ErrSenderConstrained):
		return invalid("the access token is sender-constrained and cannot be used as a bearer token")
	case errors.Is(err, ErrInvalidClaims):
		return invalid("the access token claims are invalid")
	}
	return invalid("the access token is invalid")
}

// WriteError writes the RFC 6750 response for err, an error of Check or of
// RequireScope and RequireClaims: 401 with a bare Bearer challenge for
// ErrNoToken, 400 invalid_request for ErrInvalidRequest, 403
// insufficient_scope (with the scope parameter from a *ScopeError) for
// ErrInsufficientScope, and 401 invalid_token for anything else. The
// challenge carries resource_metadata when Config.ResourceMetadata is set.
// The body is JSON {"error": …, "error_description": …} with fixed
// descriptions (the no-token body says "unauthorized"); nothing from the
// token is echoed. The default Config.ErrorHandler.
func (v *Validator) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	d := describe(err)
	var scope string
	if se := (*ScopeError)(nil); errors.As(err, &se) {
		scope = strings.Join(se.Scopes, " ")
	}
	h := w.Header()
	h.Set("WWW-Authenticate", v.challenge(d, scope))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.status)
	code := d.code
	if code == "" {
		code = "unauthorized"
	}
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, d.description})
}

// challenge builds a Bearer challenge (RFC 6750 §3): error, scope,
// error_description, then resource_metadata (RFC 9728 §5.1).
func (v *Validator) challenge(d rfc6750, scope string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuotable(&b, value)
		b.WriteByte('"')
		sep = ", "
	}
	if d.code != "" {
		param("error", d.code)
		if scope != "" {
			param("scope", scope)
		}
		param("error_description", d.description)
	}
	if v.metadata != nil {
		param("resource_metadata", v.metadata.url)
	}
	return b.String()
}

// writeQuotable writes the characters of s that RFC 6750 §3 allows in its
// quoted values (%x20-21 / %x23-5B / %x5D-7E: printable ASCII but " and \)
// and drops the rest, so no value can end the quoted string or the header.
func writeQuotable(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
}
