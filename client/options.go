package client

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AuthOption changes one authorization request made by AuthCodeURL. The
// type is sealed: this package's functions make every AuthOption.
type AuthOption interface{ setAuth(*authParams) }

// TokenOption changes one token request: Exchange, Refresh, and the
// refreshes of a TokenSource (see RefreshWith). The type is sealed.
type TokenOption interface{ setToken(*params) }

// Option changes an authorization request or a token request alike.
type Option interface {
	AuthOption
	TokenOption
}

// params collects the extra parameters of one request.
type params struct {
	v   url.Values
	err error
}

// authParams collects what AuthOptions change.
type authParams struct {
	params
	scopes      []string
	redirectURL string
}

// reserved are the parameters the client sets itself: Param refuses them so
// that no option can weaken state, nonce, PKCE or client authentication.
var reserved = []string{
	"response_type", "client_id", "redirect_uri", "state", "nonce",
	"code_challenge", "code_challenge_method", "request_uri",
	"grant_type", "code", "code_verifier", "refresh_token",
	"client_secret", "client_assertion", "client_assertion_type",
}

// paramOption sets (or, with add, appends to) one parameter.
type paramOption struct {
	key    string
	values []string
	add    bool
	err    error
}

func (o paramOption) setAuth(p *authParams) { p.set(o) }
func (o paramOption) setToken(p *params)    { p.set(o) }

func (p *params) set(o paramOption) {
	switch {
	case p.err != nil:
		return
	case o.err != nil:
		p.err = o.err
		return
	case slices.Contains(reserved, o.key):
		p.err = fmt.Errorf("client: parameter %q is set by the client, not by an option", o.key)
		return
	}
	if o.add {
		p.v[o.key] = append(p.v[o.key], o.values...)
		return
	}
	p.v[o.key] = slices.Clone(o.values)
}

// authFunc is an AuthOption that is no token option.
type authFunc func(*authParams)

func (f authFunc) setAuth(p *authParams) { f(p) }

// Param sets an extra request parameter, such as "audience" or "ui_locales"
// for an authorization request or "scope" to narrow a refresh (RFC 6749
// §6). The parameters the client owns (state, nonce, code_challenge,
// redirect_uri, client_id, client credentials, grant parameters) are
// refused: the request then fails.
func Param(key, value string) Option {
	return paramOption{key: key, values: []string{value}}
}

// Resource adds RFC 8707 resource indicators: the absolute URIs, without
// fragment, of the APIs the access token is for. In a token request it
// narrows the token to those of the granted resources.
func Resource(uris ...string) Option {
	for _, r := range uris {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return paramOption{err: fmt.Errorf("client: resource %q must be an absolute URI without fragment", r)}
		}
	}
	return paramOption{key: "resource", values: uris, add: true}
}

// Scopes replaces Config.Scopes for one request: an authorization or
// device authorization request, or a token request (the scope of a
// client-credentials token, or a narrower scope on refresh, RFC 6749 §6).
// No scopes means no scope parameter.
func Scopes(scopes ...string) Option {
	return scopesOption(slices.Clone(scopes))
}

type scopesOption []string

func (o scopesOption) setAuth(p *authParams) { p.scopes = o }

func (o scopesOption) setToken(p *params) {
	if len(o) == 0 {
		p.v.Del("scope")
		return
	}
	p.v.Set("scope", strings.Join(o, " "))
}

// RedirectURL replaces Config.RedirectURL for one authorization request,
// e.g. a native app's loopback URL with the port it just opened (RFC 8252).
// The AuthRequest records it for Exchange.
func RedirectURL(uri string) AuthOption {
	return authFunc(func(p *authParams) { p.redirectURL = uri })
}

// Prompt sets the OpenID Connect prompt parameter: "none", "login",
// "consent", "select_account", or several of them.
func Prompt(values ...string) AuthOption {
	return paramOption{key: "prompt", values: []string{strings.Join(values, " ")}}
}

// MaxAge sets the OpenID Connect max_age parameter, in whole seconds. The
// client does not check the ID token's auth_time against it; the rp does.
func MaxAge(d time.Duration) AuthOption {
	if d < 0 {
		return paramOption{err: fmt.Errorf("client: max_age %v is negative", d)}
	}
	return paramOption{key: "max_age", values: []string{strconv.FormatInt(int64(d/time.Second), 10)}}
}

// LoginHint sets the OpenID Connect login_hint parameter.
func LoginHint(hint string) AuthOption {
	return paramOption{key: "login_hint", values: []string{hint}}
}

// ACRValues sets the OpenID Connect acr_values parameter, most preferred
// first. The client does not check the ID token's acr; the rp does.
func ACRValues(values ...string) AuthOption {
	return paramOption{key: "acr_values", values: []string{strings.Join(values, " ")}}
}

// FormPost asks for response_mode=form_post: the server returns the
// response in a POST to the redirect URI instead of its query, so that the
// code stays out of browser history and Referer headers.
func FormPost() AuthOption {
	return paramOption{key: "response_mode", values: []string{"form_post"}}
}
