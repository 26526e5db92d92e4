package rp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keyway-go/keyway/client"
)

// maxCallbackBody caps a form_post callback body, and the query of a GET
// callback.
const maxCallbackBody = 64 << 10

// Login starts a login: GET /login?return_to=/path. It records a login
// transaction (state, nonce, PKCE verifier, issuer, return_to) in its own
// sealed cookie and redirects to the provider. return_to must be a local
// path; anything else becomes "/".
func (rp *RP) Login(w http.ResponseWriter, r *http.Request) {
	returnTo := SafeReturnTo(r.URL.Query().Get("return_to"))
	var opts []client.AuthOption
	if len(rp.cfg.Resources) > 0 {
		opts = append(opts, client.Resource(rp.cfg.Resources...))
	}
	if prompt := rp.prompt(); len(prompt) > 0 {
		opts = append(opts, client.Prompt(prompt...))
	}
	if rp.cfg.FormPost {
		opts = append(opts, client.FormPost())
	}
	if rp.cfg.MaxAge > 0 {
		opts = append(opts, client.Param("max_age", strconv.Itoa(int(rp.cfg.MaxAge.Seconds()))))
	}
	if len(rp.cfg.ACRValues) > 0 {
		opts = append(opts, client.Param("acr_values", strings.Join(rp.cfg.ACRValues, " ")))
	}
	ar, err := rp.client.AuthCodeURL(r.Context(), opts...)
	if err != nil {
		rp.failLogin(w, r, http.StatusBadGateway, atStep(ReasonStart, fmt.Errorf("rp: start login: %w", err)))
		return
	}
	t := transaction{
		State:       ar.State,
		Nonce:       ar.Nonce,
		Verifier:    ar.Verifier,
		Issuer:      rp.meta.Issuer,
		RedirectURL: ar.RedirectURL,
		ReturnTo:    returnTo,
		Expires:     rp.cfg.Now().Add(transactionTTL).Unix(),
	}
	if err := rp.saveTransaction(w, r, t); err != nil {
		rp.failLogin(w, r, http.StatusInternalServerError, atStep(ReasonStart, err))
		return
	}
	rp.cfg.Hooks.loginStarted(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ar.URL, http.StatusFound)
}

// prompt is the prompt parameter of a login (see Config.Prompt).
func (rp *RP) prompt() []string {
	if rp.cfg.Prompt == nil && slices.Contains(rp.cfg.Scopes, "offline_access") {
		return []string{"consent"}
	}
	return rp.cfg.Prompt
}

// Callback completes a login: GET or POST (form_post) with code, state and
// iss. It takes the login transaction (once), checks the response, redeems
// the code, verifies the ID token, optionally fetches userinfo, starts a new
// session and redirects (303) to return_to. The query or form body may be
// at most 64 KiB. Any failure renders the error page with a 4xx status and
// leaves no session.
func (rp *RP) Callback(w http.ResponseWriter, r *http.Request) {
	params, err := callbackParams(w, r)
	if err != nil {
		rp.failLogin(w, r, http.StatusBadRequest, atStep(ReasonRequest, err))
		return
	}
	u, returnTo, err := rp.completeLogin(r.Context(), w, r, params)
	if err != nil {
		rp.log.Info("rp: login failed", "err", err)
		rp.failLogin(w, r, statusFor(err), err)
		return
	}
	if err := rp.startSession(w, r, u); err != nil {
		rp.failLogin(w, r, http.StatusInternalServerError, atStep(ReasonSession, err))
		return
	}
	rp.cfg.Hooks.loginSucceeded(r.Context())
	rp.log.Debug("rp: login", "sub", u.Subject)
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// callbackParams reads the authorization response from the query (GET) or
// the form body (POST, response_mode=form_post), each of at most
// maxCallbackBody bytes.
func callbackParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxCallbackBody {
			return nil, fmt.Errorf("rp: callback query longer than %d bytes", maxCallbackBody)
		}
		return r.URL.Query(), nil
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxCallbackBody)
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("rp: callback form: %w", err)
		}
		return r.PostForm, nil
	}
	return nil, fmt.Errorf("rp: callback method %s not allowed", r.Method)
}

// completeLogin runs the callback's steps and returns the new user.
func (rp *RP) completeLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, params url.Values) (*sessionData, string, error) {
	t, err := rp.takeTransaction(w, r, params.Get("state"))
	if err != nil {
		return nil, "", atStep(ReasonState, err)
	}
	if t.Issuer != rp.meta.Issuer {
		return nil, "", fmt.Errorf("%w: the login was started with %q", ErrIssuerMismatch, t.Issuer)
	}
	ar := t.authRequest()
	code, err := rp.client.ParseResponse(params, ar)
	if errors.Is(err, client.ErrIssuerMismatch) {
		return nil, "", fmt.Errorf("%w: %w", ErrIssuerMismatch, err)
	}
	if err != nil {
		return nil, "", atStep(ReasonRequest, err)
	}
	tok, err := rp.client.Exchange(ctx, code, ar)
	if err == nil {
		err = checkTokenType(tok)
	}
	if err != nil {
		return nil, "", atStep(ReasonTokenEndpoint, err)
	}
	if tok.IDToken == "" {
		return nil, "", fmt.Errorf("%w: the token response has no id_token", ErrInvalidIDToken)
	}
	idt, err := rp.verifier.verify(ctx, tok.IDToken, expectations{nonce: t.Nonce, accessToken: tok.AccessToken})
	if err != nil {
		return nil, "", err
	}
	claims := maps.Clone(idt.claims.all)
	if rp.cfg.FetchUserinfo {
		if err := rp.mergeUserinfo(ctx, tok.AccessToken, idt.claims.Subject, claims); err != nil {
			return nil, "", atStep(ReasonUserinfo, err)
		}
	}
	return newSessionData(idt, claims, tok), t.ReturnTo, nil
}

// mergeUserinfo adds the userinfo claims to claims; the ID token's own
// claims win, and userinfo's sub must be the ID token's (Core §5.3.2).
func (rp *RP) mergeUserinfo(ctx context.Context, accessToken, subject string, claims map[string]any) error {
	if rp.meta.UserinfoEndpoint == "" {
		return errors.New("rp: the provider has no userinfo endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rp.meta.UserinfoEndpoint, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var info map[string]any
	if err := doJSON(rp.http, req, &info); err != nil {
		return fmt.Errorf("rp: userinfo: %w", err)
	}
	if sub, _ := info["sub"].(string); sub != subject {
		return ErrUserinfoSubject
	}
	for k, v := range info {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// statusFor maps a login error to the status of the error page.
func statusFor(err error) int {
	if errors.Is(err, ErrSessionUnavailable) {
		return http.StatusServiceUnavailable
	}
	var ae *client.AuthError
	if errors.As(err, &ae) && ae.Code == "access_denied" {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// failLogin reports a failed login to the hooks and renders the error page.
func (rp *RP) failLogin(w http.ResponseWriter, r *http.Request, status int, err error) {
	rp.cfg.Hooks.loginFailed(r.Context(), err)
	rp.cfg.ErrorPage(w, r, status, err)
}

// checkTokenType refuses a token response whose token_type is not Bearer
// (OpenID Connect Core §3.1.3.3; RFC 6749 §7.1: a client must not use a
// token of a type it does not understand), before the access token is
// sent anywhere.
func checkTokenType(tok *client.Token) error {
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return fmt.Errorf("%w: token_type %q is not Bearer", client.ErrMalformedResponse, tok.TokenType)
	}
	return nil
}
