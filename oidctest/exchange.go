package oidctest

import (
	"net/http"
	"net/url"
	"strings"
)

// RFC 8693 token exchange at the token endpoint.

const tokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"

// tokenExchangeGrant exchanges an access token this server issued for a
// new one, for another audience or a narrower scope, optionally on behalf
// of an actor. Confidential clients only.
func (s *Server) tokenExchangeGrant(w http.ResponseWriter, r *http.Request, c Client, jkt string) {
	if c.authMethod() == "none" {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "public clients cannot exchange tokens")
		return
	}
	form := r.PostForm
	// RFC 8693 §2.2.2: an invalid subject or actor token is invalid_request.
	subject, problem := s.exchangeInput(form, "subject_token", "subject_token_type")
	if problem != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", problem)
		return
	}
	var actor *accessEntry
	if form.Has("actor_token") || form.Has("actor_token_type") {
		if actor, problem = s.exchangeInput(form, "actor_token", "actor_token_type"); problem != "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", problem)
			return
		}
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != tokenTypeAccessToken {
		oauthError(w, http.StatusBadRequest, "invalid_request", "requested_token_type must be "+tokenTypeAccessToken)
		return
	}
	resources := form["resource"]
	if !validResources(resources) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without fragment")
		return
	}
	scope := subject.scope
	if requested := form.Get("scope"); requested != "" {
		granted := strings.Fields(subject.scope)
		for _, sc := range strings.Fields(requested) {
			if !contains(granted, sc) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+sc+" is not in the subject token's scope")
				return
			}
		}
		scope = requested
	}
	g := grant{
		clientID:  c.ID,
		subject:   subject.subject,
		scope:     scope,
		resources: resources,
		authTime:  subject.authTime,
		family:    subject.family, // revoking the subject's grant revokes this token too
	}
	aud := append(append([]string(nil), form["audience"]...), resources...)
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, act: actClaim(subject, actor), exchange: true, jkt: jkt})
}

// actClaim is the act claim of an exchanged token (RFC 8693 §4.1): the
// actor, with the subject token's actor nested as the one before it. With
// no actor the subject token's act carries over.
func actClaim(subject, actor *accessEntry) map[string]any {
	if actor == nil {
		return subject.act
	}
	act := map[string]any{"sub": actor.subject}
	if subject.act != nil {
		act["act"] = subject.act
	}
	return act
}

// exchangeInput reads a subject or actor token and its type: an active
// access token this server issued, of type access_token, or jwt for a JWT
// one. It returns what is wrong with them, or "".
func (s *Server) exchangeInput(form url.Values, tokenField, typeField string) (*accessEntry, string) {
	tok, typ := form.Get(tokenField), form.Get(typeField)
	switch {
	case tok == "":
		return nil, tokenField + " is required"
	case typ == "":
		return nil, typeField + " is required"
	case typ != tokenTypeAccessToken && typ != tokenTypeJWT:
		return nil, typeField + " must be " + tokenTypeAccessToken + " or " + tokenTypeJWT
	}
	e, ok := s.activeAccessToken(tok)
	switch {
	case !ok:
		return nil, tokenField + " is not an active access token issued here"
	case typ == tokenTypeJWT && e.opaque:
		return nil, tokenField + " is opaque, not a " + tokenTypeJWT
	}
	return &e, ""
}
