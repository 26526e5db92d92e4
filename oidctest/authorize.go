package oidctest

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "oidctest_session"
	parURNPrefix  = "urn:ietf:params:oauth:request_uri:"
)

// authzError is an error found while reading an authorization request.
// When redirect is set the client's redirect URI is trusted and the error
// goes back to it; otherwise the user sees an error page.
type authzError struct {
	code, description string
	redirect          bool
}

func (e *authzError) Error() string { return e.code + ": " + e.description }

// parseAuthRequest validates authorization parameters for client c.
func (s *Server) parseAuthRequest(p url.Values) (authRequest, *authzError) {
	c, ok := s.client(p.Get("client_id"))
	if !ok {
		return authRequest{}, &authzError{code: "invalid_client", description: "unknown client_id"}
	}
	req := authRequest{
		clientID:      c.ID,
		redirectURI:   p.Get("redirect_uri"),
		scope:         p.Get("scope"),
		state:         p.Get("state"),
		nonce:         p.Get("nonce"),
		codeChallenge: p.Get("code_challenge"),
		responseMode:  p.Get("response_mode"),
		prompt:        p.Get("prompt"),
		maxAge:        -1,
		acrValues:     p.Get("acr_values"),
		resources:     p["resource"],
		dpopJKT:       p.Get("dpop_jkt"),
	}
	if !registeredRedirect(c.RedirectURIs, req.redirectURI) {
		return req, &authzError{code: "invalid_request", description: "redirect_uri is not registered for this client"}
	}
	fail := func(code, desc string) (authRequest, *authzError) {
		return req, &authzError{code: code, description: desc, redirect: true}
	}
	switch {
	case p.Get("response_type") != "code":
		return fail("unsupported_response_type", "only response_type=code is supported")
	case req.responseMode != "" && req.responseMode != "query" && req.responseMode != "form_post":
		return fail("invalid_request", "unsupported response_mode")
	case req.codeChallenge == "":
		return fail("invalid_request", "code_challenge is required (PKCE)")
	case p.Get("code_challenge_method") != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case !validVerifierSyntax(req.codeChallenge) || len(req.codeChallenge) != 43:
		return fail("invalid_request", "malformed code_challenge")
	}
	if !validResources(req.resources) {
		return fail("invalid_target", "resource must be an absolute URI without fragment")
	}
	if req.dpopJKT != "" && !validThumbprint(req.dpopJKT) {
		return fail("invalid_request", "dpop_jkt must be a base64url SHA-256 JWK thumbprint")
	}
	if v := p.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fail("invalid_request", "max_age must be a non-negative integer")
		}
		req.maxAge = n
	}
	return req, nil
}

// authorize is the authorization endpoint.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	params := r.Form
	if uri := params.Get("request_uri"); uri != "" {
		req, ok := s.takePAR(uri, params.Get("client_id"))
		if !ok {
			errorPage(w, http.StatusBadRequest, "invalid_request_uri", "request_uri is unknown, expired, used or for another client")
			return
		}
		s.continueAuthorization(w, r, req)
		return
	}
	req, aerr := s.parseAuthRequest(params)
	if aerr == nil && s.cfg.RequirePAR {
		aerr = &authzError{code: "invalid_request", description: "pushed authorization requests are required", redirect: true}
	}
	if aerr != nil {
		s.authzFail(w, r, req, aerr)
		return
	}
	s.continueAuthorization(w, r, req)
}

func (s *Server) authzFail(w http.ResponseWriter, r *http.Request, req authRequest, e *authzError) {
	if !e.redirect {
		errorPage(w, http.StatusBadRequest, e.code, e.description)
		return
	}
	s.respond(w, r, req, url.Values{"error": {e.code}, "error_description": {e.description}})
}

// continueAuthorization logs the user in (or asks them to) and issues a code.
func (s *Server) continueAuthorization(w http.ResponseWriter, r *http.Request, req authRequest) {
	sid, sess := s.currentSession(r)
	now := s.now()
	// max_age=0 is prompt=login (OpenID Connect Core §3.1.2.1), even
	// when an injected clock has not moved since the login.
	prompts := strings.Fields(req.prompt)
	fresh := sess != nil && !contains(prompts, "login") && req.maxAge != 0 &&
		(req.maxAge < 0 || now.Sub(sess.authTime) <= time.Duration(req.maxAge)*time.Second)
	switch {
	case fresh:
		s.issueCode(w, r, req, sid, sess)
	case contains(prompts, "none"):
		s.respond(w, r, req, url.Values{"error": {"login_required"}, "error_description": {"the user is not logged in"}})
	case s.cfg.Interactive:
		s.loginPage(w, http.StatusOK, s.addPending(req, now), "")
	default:
		u := s.users[0]
		sid, sess := s.startSession(w, u.Subject)
		s.issueCode(w, r, req, sid, sess)
	}
}

// login receives the interactive login form.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := r.PostForm.Get("request")
	s.state.mu.Lock()
	p, ok := s.state.pending[id]
	s.state.mu.Unlock()
	req := p.req
	if !ok || !s.now().Before(p.expires) {
		errorPage(w, http.StatusBadRequest, "invalid_request", "this login has expired; start again from the application")
		return
	}
	u, ok := s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		s.loginPage(w, http.StatusUnauthorized, id, "Wrong username or password.")
		return
	}
	s.state.mu.Lock()
	delete(s.state.pending, id)
	s.state.mu.Unlock()
	sid, sess := s.startSession(w, u.Subject)
	s.issueCode(w, r, req, sid, sess)
}

// Bounds of interactive logins in progress.
const (
	loginTTL   = 10 * time.Minute
	maxPending = 1000
)

// addPending records an interactive login and returns its id, first
// forgetting expired ones (and, past maxPending, the oldest-expiring).
func (s *Server) addPending(req authRequest, now time.Time) string {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var oldest string
	for id, p := range s.state.pending {
		if !now.Before(p.expires) {
			delete(s.state.pending, id)
		} else if oldest == "" || p.expires.Before(s.state.pending[oldest].expires) {
			oldest = id
		}
	}
	if len(s.state.pending) >= maxPending {
		delete(s.state.pending, oldest)
	}
	id := randomID()
	s.state.pending[id] = pendingLogin{req: req, expires: now.Add(loginTTL)}
	return id
}

func (s *Server) checkPassword(username, password string) (User, bool) {
	for _, u := range s.users {
		if u.Username != "" && u.Username == username && u.Password == password {
			return u, true
		}
	}
	return User{}, false
}

func (s *Server) user(subject string) (User, bool) {
	for _, u := range s.users {
		if u.Subject == subject {
			return u, true
		}
	}
	return User{}, false
}

func (s *Server) currentSession(r *http.Request) (string, *opSession) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	sess, ok := s.state.sessions[c.Value]
	if !ok {
		return "", nil
	}
	return c.Value, sess
}

func (s *Server) startSession(w http.ResponseWriter, subject string) (string, *opSession) {
	sid := randomID()
	sess := &opSession{subject: subject, authTime: s.now()}
	s.state.mu.Lock()
	s.state.sessions[sid] = sess
	s.state.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sid, Path: s.cookiePath(),
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return sid, sess
}

func (s *Server) cookiePath() string {
	if s.cfg.IssuerPath != "" {
		return s.cfg.IssuerPath
	}
	return "/"
}

// issueCode stores a code for req and sends it to the client.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req authRequest, sid string, sess *opSession) {
	code := randomID()
	g := grant{
		clientID:  req.clientID,
		subject:   sess.subject,
		scope:     req.scope,
		nonce:     req.nonce,
		resources: req.resources,
		authTime:  sess.authTime,
		sid:       sid,
	}
	if req.acrValues != "" {
		g.acr = strings.Fields(req.acrValues)[0]
	}
	s.state.mu.Lock()
	s.state.codes[code] = &codeEntry{
		grant:         g,
		redirectURI:   req.redirectURI,
		codeChallenge: req.codeChallenge,
		expires:       s.now().Add(s.cfg.CodeTTL),
		dpopJKT:       req.dpopJKT,
	}
	s.state.mu.Unlock()
	s.respond(w, r, req, url.Values{"code": {code}})
}

// respond sends authorization response parameters to the client's redirect
// URI, with state and the RFC 9207 iss parameter, by redirect or form post.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, req authRequest, params url.Values) {
	if req.state != "" {
		params.Set("state", req.state)
	}
	params.Set("iss", s.Issuer)
	if f := s.currentFaults().AuthorizationResponse; f != nil {
		f(params)
	}
	if req.responseMode == "form_post" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = formPostTemplate.Execute(w, struct {
			Action string
			Params url.Values
		}{req.redirectURI, params})
		return
	}
	u, _ := url.Parse(req.redirectURI) // registered URIs are valid
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// par is the pushed authorization request endpoint (RFC 9126).
func (s *Server) par(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	s.setDPoPNonce(w)
	jkt, derr := s.checkDPoP(r, s.Issuer+"/par", "")
	if derr != nil {
		dpopTokenError(w, derr)
		return
	}
	c, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	if r.PostForm.Get("request_uri") != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "request_uri is not allowed in a pushed request")
		return
	}
	params := cloneValues(r.PostForm)
	params.Set("client_id", c.ID)
	if jkt != "" {
		// RFC 9449 §10.1: a proof at PAR binds the code to its key.
		if params.Has("dpop_jkt") && params.Get("dpop_jkt") != jkt {
			oauthError(w, http.StatusBadRequest, errInvalidDPoPProof, "dpop_jkt does not match the DPoP proof's key")
			return
		}
		params.Set("dpop_jkt", jkt)
	}
	req, aerr := s.parseAuthRequest(params)
	if aerr != nil {
		oauthError(w, http.StatusBadRequest, aerr.code, aerr.description)
		return
	}
	uri := parURNPrefix + randomID()
	ttl := s.cfg.CodeTTL
	s.state.mu.Lock()
	s.state.par[uri] = &parEntry{req: req, expires: s.now().Add(ttl)}
	s.state.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": int(ttl.Seconds())})
}

// validThumbprint reports whether v is a base64url SHA-256 thumbprint.
func validThumbprint(v string) bool {
	b, err := b64.DecodeString(v)
	return err == nil && len(b) == 32
}

// takePAR returns and forgets the pushed request uri for clientID.
func (s *Server) takePAR(uri, clientID string) (authRequest, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	e, ok := s.state.par[uri]
	if !ok || e.req.clientID != clientID {
		return authRequest{}, false
	}
	delete(s.state.par, uri)
	return e.req, s.now().Before(e.expires)
}

func errorPage(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, struct{ Code, Description string }{code, description})
}

func (s *Server) loginPage(w http.ResponseWriter, status int, requestID, problem string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	hint := ""
	if len(s.users) > 0 && s.users[0].Username != "" {
		hint = fmt.Sprintf("Demo account: %s / %s", s.users[0].Username, s.users[0].Password)
	}
	_ = loginTemplate.Execute(w, struct {
		Action, Request, Problem, Hint string
	}{s.Issuer + "/login", requestID, problem, hint})
}

var (
	formPostTemplate = template.Must(template.New("form_post").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Submit</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
`))

	errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Error</title></head>
<body><h1>{{.Code}}</h1><p>{{.Description}}</p></body></html>
`))

	loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}
label,input,button{display:block;width:100%;margin:.4rem 0}input{padding:.4rem}
.problem{color:#a00}.hint{color:#555;font-size:.9rem}</style></head>
<body><h1>Sign in</h1>
{{if .Problem}}<p class="problem">{{.Problem}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<label>Username <input name="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
{{if .Hint}}<p class="hint">{{.Hint}}</p>{{end}}
</body></html>
`))
)

// registeredRedirect reports whether uri is one of registered, exactly, or
// differs from a registered loopback IP redirect URI without a port only
// by its port: native apps listen on a port they get at run time (RFC 8252
// §7.3).
func registeredRedirect(registered []string, uri string) bool {
	if contains(registered, uri) {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return false
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	u.Host = u.Hostname()
	if strings.Contains(u.Host, ":") {
		u.Host = "[" + u.Host + "]"
	}
	return contains(registered, u.String())
}
