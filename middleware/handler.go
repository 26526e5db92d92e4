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
// Bearer or the DPoP scheme (case-insensitive), or, when there is no
// Authorization header and Config.Cookie is set, from that cookie. It
// fails with ErrInvalidRequest for more than one Authorization header, an
// empty credential or an access_token query parameter (RFC 6750 §2.3 is
// refused: URLs end up in logs), and with ErrNoToken when there is no
// token, including for another scheme (Basic). Form-encoded body tokens
// are not read. Check does not look at scopes.
//
// A Bearer or cookie token must have no cnf claim (ErrSenderConstrained),
// and is refused outright with Config.DPoP.Required. A token with the DPoP
// scheme must be bound to the key of the request's DPoP proof, which is
// checked on every request (RFC 9449 §7.1; see DPoPConfig and the
// package documentation for the steps). A DPoP header on a Bearer request
// is ignored.
func (v *Validator) Check(r *http.Request) (*Claims, error) {
	c, _, err := v.check(r)
	return c, err
}

// check is Check, also reporting whether r used the DPoP scheme.
func (v *Validator) check(r *http.Request) (*Claims, bool, error) {
	token, dpop, err := v.token(r)
	switch {
	case err != nil:
		return nil, dpop, err
	case dpop:
		c, err := v.checkDPoP(r, token)
		return c, true, err
	}
	c, err := v.Verify(r.Context(), token)
	return c, false, err
}

// token returns the access token of r and whether it came with the DPoP
// scheme.
func (v *Validator) token(r *http.Request) (string, bool, error) {
	if q := r.URL.RawQuery; strings.Contains(q, "access") || strings.Contains(q, "%") {
		// Parsed only when the key may be there, even percent-encoded.
		if v, _ := url.ParseQuery(q); v.Has("access_token") {
			return "", false, errTokenInQuery
		}
	}
	auth := r.Header["Authorization"]
	switch {
	case len(auth) > 1:
		return "", false, errTwoAuthorizations
	case len(auth) == 1:
		scheme, token, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		dpop := strings.EqualFold(scheme, "DPoP")
		if !dpop && !strings.EqualFold(scheme, "Bearer") {
			return "", false, ErrNoToken
		}
		token = strings.TrimLeft(token, " ")
		switch {
		case token == "" && dpop:
			return "", true, errEmptyDPoP
		case token == "":
			return "", false, errEmptyBearer
		case !dpop && v.dpop.required:
			return "", false, errBearerRefused
		}
		return token, dpop, nil
	case v.cookie != "":
		if c, err := r.Cookie(v.cookie); err == nil && c.Value != "" {
			if v.dpop.required {
				return "", false, errBearerRefused
			}
			return c.Value, false, nil
		}
	}
	return "", false, ErrNoToken
}

// isDPoPRequest reports whether r has one Authorization header, with the
// DPoP scheme.
func isDPoPRequest(r *http.Request) bool {
	auth := r.Header["Authorization"]
	if len(auth) != 1 {
		return false
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
	return strings.EqualFold(scheme, "DPoP")
}

// Handler returns a handler that serves a request with h when Check
// accepts it, with the claims in the request context (see ClaimsFrom),
// and otherwise calls Config.ErrorHandler. Requests matching
// Config.OptionalPatterns without a token go to h without claims. With
// Config.DPoP.NonceKey, a DPoP request accepted gets a DPoP-Nonce header
// set before h runs, so that the client always holds a current nonce.
func (v *Validator) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, dpop, err := v.check(r)
		switch {
		case err == nil:
			if dpop {
				v.setNonce(w.Header())
			}
			h.ServeHTTP(w, r.WithContext(withClaims(r.Context(), c)))
		case errors.Is(err, ErrNoToken) && v.isOptional(r):
			h.ServeHTTP(w, r)
		default:
			v.refuse(w, r, err)
		}
	})
}

// setNonce sets the DPoP-Nonce header to a current nonce, if nonces are on.
func (v *Validator) setNonce(h http.Header) {
	if v.dpop.nonces != nil {
		h.Set("DPoP-Nonce", v.dpop.nonces.issue(v.now()))
	}
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
	proof := func(d string) rfc6750 { return rfc6750{http.StatusUnauthorized, "invalid_dpop_proof", d} }
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
	case errors.Is(err, ErrReplayCacheFailed), errors.Is(err, ErrIntrospection):
		return rfc6750{http.StatusServiceUnavailable, "temporarily_unavailable", "the request cannot be checked now; retry later"}
	case errors.Is(err, ErrUseDPoPNonce):
		return rfc6750{http.StatusUnauthorized, "use_dpop_nonce", "the resource server requires a nonce in the DPoP proof"}
	case errors.Is(err, errNoProof):
		return proof("a DPoP proof is required")
	case errors.Is(err, errTwoProofs):
		return proof("more than one DPoP header")
	case errors.Is(err, errReplayed):
		return proof("the DPoP proof was used before")
	case errors.Is(err, ErrInvalidDPoPProof):
		return proof("the DPoP proof is invalid")
	case errors.Is(err, ErrDPoPBinding):
		return invalid("the access token is not bound to the key of the DPoP proof")
	case errors.Is(err, errBearerRefused):
		return invalid("the access token must be presented with the DPoP scheme")
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
// RequireScope and RequireClaims: 401 with bare challenges for ErrNoToken,
// 400 invalid_request for ErrInvalidRequest, 403 insufficient_scope (with
// the scope parameter from a *ScopeError) for ErrInsufficientScope, 401
// invalid_dpop_proof for ErrInvalidDPoPProof, 401 use_dpop_nonce for
// ErrUseDPoPNonce, 503 temporarily_unavailable (without a challenge) for
// ErrReplayCacheFailed and ErrIntrospection, and 401 invalid_token for
// anything else.
//
// It sends two WWW-Authenticate values (RFC 9449 §7.2): first the Bearer
// challenge, then "DPoP algs=…" listing the proof algorithms; with
// Config.DPoP.Required only the DPoP one. The error goes into the
// challenge of the scheme the request used: DPoP for a request with
// "Authorization: DPoP" (RFC 9449 §7.1) or when DPoP is required, Bearer
// otherwise; the other challenge is bare. Challenges carry
// resource_metadata when Config.ResourceMetadata is set. With
// Config.DPoP.NonceKey, a response to a DPoP request, and any to
// ErrUseDPoPNonce, carries a fresh DPoP-Nonce header.
//
// The body is JSON {"error": …, "error_description": …} with fixed
// descriptions (the no-token body says "unauthorized"); nothing from the
// token or proof is echoed. The default Config.ErrorHandler.
func (v *Validator) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	d := describe(err)
	h := w.Header()
	if d.status != http.StatusServiceUnavailable {
		v.setChallenges(h, r, d, err)
	}
	if isDPoPRequest(r) || errors.Is(err, ErrUseDPoPNonce) {
		v.setNonce(h)
	}
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

// setChallenges sets the WWW-Authenticate values for d, the response to
// err, putting the error into the challenge of r's scheme.
func (v *Validator) setChallenges(h http.Header, r *http.Request, d rfc6750, err error) {
	var scope string
	if se := (*ScopeError)(nil); errors.As(err, &se) {
		scope = strings.Join(se.Scopes, " ")
	}
	bearer, dpop := d, rfc6750{}
	if v.dpop.required || isDPoPRequest(r) {
		bearer, dpop = rfc6750{}, d
	}
	h.Del("WWW-Authenticate")
	if !v.dpop.required {
		h.Add("WWW-Authenticate", v.challenge("Bearer", bearer, scope, ""))
	}
	h.Add("WWW-Authenticate", v.challenge("DPoP", dpop, scope, v.dpop.algs))
}

// challenge builds a challenge of scheme (RFC 6750 §3, RFC 9449 §7.1):
// error, scope, error_description, then algs when not empty, then
// resource_metadata (RFC 9728 §5.1).
func (v *Validator) challenge(scheme string, d rfc6750, scope, algs string) string {
	var b strings.Builder
	b.WriteString(scheme)
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
	if algs != "" {
		param("algs", algs)
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
