package middleware

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// introFixture is an introspection server and a Validator using it.
type introFixture struct {
	srv   *introServer
	v     *Validator
	clock *testClock
	n     *counters
}

// newIntroFixture starts a server and a Validator for it, with the
// introspection endpoint discovered; edit changes the Config before New.
func newIntroFixture(t testing.TB, edit func(*Config)) *introFixture {
	t.Helper()
	f := &introFixture{srv: newIntroServer(t), clock: newTestClock(), n: &counters{}}
	cfg := Config{
		Issuer:    f.srv.URL,
		Audiences: []string{testAudience},
		Introspection: &Introspection{
			ClientID:     introClientID,
			ClientSecret: introSecret,
		},
		Now:   f.clock.Now,
		Hooks: f.n.hooks(),
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	f.v = v
	return f
}

// answer is an active introspection answer at the fixture's time.
func (f *introFixture) answer() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"active":     true,
		"iss":        f.srv.URL,
		"sub":        "ada",
		"aud":        testAudience,
		"client_id":  "app",
		"scope":      "read write",
		"username":   "ada@example.com",
		"token_type": "Bearer",
		"iat":        now.Unix(),
		"exp":        now.Add(5 * time.Minute).Unix(),
		"act":        map[string]any{"sub": "batch-job"},
	}
}

// opaque returns a new opaque token the server answers with the fixture's
// answer edited by edit.
func (f *introFixture) opaque(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	token := "op_" + randomString() + "-._~+/=="
	a := f.answer()
	if edit != nil {
		edit(a)
	}
	f.srv.set(t, token, a)
	return token
}

func TestIntrospectionAcceptsActiveToken(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	token := f.opaque(t, nil)
	c, err := f.v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	now := f.clock.Now()
	if c.Issuer() != f.srv.URL || c.Subject() != "ada" || c.ClientID() != "app" {
		t.Errorf("iss, sub, client_id = %q, %q, %q", c.Issuer(), c.Subject(), c.ClientID())
	}
	if got := c.Audience(); len(got) != 1 || got[0] != testAudience {
		t.Errorf("Audience = %q", got)
	}
	if !c.HasScope("read") || !c.HasScope("write") || len(c.Scopes()) != 2 {
		t.Errorf("Scopes = %q", c.Scopes())
	}
	if !c.Expiry().Equal(now.Add(5*time.Minute)) || !c.IssuedAt().Equal(now) {
		t.Errorf("exp, iat = %v, %v", c.Expiry(), c.IssuedAt())
	}
	if u, _ := c.Get("username"); u != "ada@example.com" {
		t.Errorf("Get(username) = %v", u)
	}
	if act, _ := c.Get("act"); act.(map[string]any)["sub"] != "batch-job" {
		t.Errorf("Get(act) = %v", act)
	}
	if a, _ := c.Get("active"); a != true {
		t.Errorf("Get(active) = %v", a)
	}
	req, form := f.srv.last()
	if req.Header.Get("Accept") != "application/json" || form.Get("token") != token || form.Get("token_type_hint") != "access_token" {
		t.Errorf("request: Accept %q, form %v", req.Header.Get("Accept"), form)
	}
}

func TestIntrospectionAcceptedVariants(t *testing.T) {
	t.Parallel()
	other := newIntroServer(t)
	f := newIntroFixture(t, func(c *Config) { c.Issuers = []Issuer{{URL: other.URL}} })
	now := f.clock.Now()
	tests := []struct {
		name  string
		edit  func(map[string]any)
		check func(*Claims) bool
	}{
		{"no iss: the server's", func(a map[string]any) { delete(a, "iss") }, func(c *Claims) bool { return c.Issuer() == f.srv.URL }},
		{"another accepted iss", func(a map[string]any) { a["iss"] = other.URL }, func(c *Claims) bool { return c.Issuer() == other.URL }},
		{"aud array", func(a map[string]any) { a["aud"] = []string{"other", testAudience} }, nil},
		{"no exp", func(a map[string]any) { delete(a, "exp") }, func(c *Claims) bool { return c.Expiry().IsZero() }},
		{"exp within leeway", func(a map[string]any) { a["exp"] = now.Add(-30 * time.Second).Unix() }, nil},
		{"nbf within leeway", func(a map[string]any) { a["nbf"] = now.Add(30 * time.Second).Unix() }, nil},
		{"token_type bearer", func(a map[string]any) { a["token_type"] = "bearer" }, nil},
		{"token_type DPoP", func(a map[string]any) { a["token_type"] = "DPoP" }, nil},
		{"token_type access_token", func(a map[string]any) { a["token_type"] = "access_token" }, nil},
		{"no token_type", func(a map[string]any) { delete(a, "token_type") }, nil},
		{"token_use access_token", func(a map[string]any) { a["token_use"] = "access_token" }, nil},
		{"scope array", func(a map[string]any) { a["scope"] = []string{"a", "b"} }, func(c *Claims) bool { return c.HasScope("b") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := f.v.Verify(t.Context(), f.opaque(t, tt.edit))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("claims not as expected: %s", c.payload)
			}
		})
	}
}

func TestIntrospectionRefuses(t *testing.T) {
	t.Parallel()
	other := newIntroServer(t)
	f := newIntroFixture(t, func(c *Config) { c.Issuers = []Issuer{{URL: other.URL}} })
	now := f.clock.Now()
	set := func(name string, v any) func(map[string]any) { return func(a map[string]any) { a[name] = v } }
	del := func(name string) func(map[string]any) { return func(a map[string]any) { delete(a, name) } }
	tests := []struct {
		name string
		edit func(map[string]any)
		want error
	}{
		{"inactive", set("active", false), ErrInactive},
		{"active string", set("active", "true"), ErrIntrospection},
		{"active number", set("active", 1), ErrIntrospection},
		{"no active", del("active"), ErrIntrospection},
		{"wrong iss", set("iss", "https://evil.example.com"), ErrInvalidIssuer},
		{"empty iss", set("iss", ""), ErrInvalidIssuer},
		{"iss with a slash", func(a map[string]any) { a["iss"] = f.srv.URL + "/" }, ErrInvalidIssuer},
		{"no aud", del("aud"), ErrInvalidAudience},
		{"wrong aud", set("aud", "https://other-api.example.com"), ErrInvalidAudience},
		{"empty aud array", set("aud", []string{}), ErrInvalidAudience},
		{"expired", set("exp", now.Add(-2*time.Minute).Unix()), ErrExpired},
		{"nbf in the future", set("nbf", now.Add(2*time.Minute).Unix()), ErrInvalidClaims},
		{"iat in the future", set("iat", now.Add(2*time.Minute).Unix()), ErrInvalidClaims},
		{"refresh token type", set("token_type", "refresh_token"), ErrInvalidType},
		{"N_A type", set("token_type", "N_A"), ErrInvalidType},
		{"refresh token_use", set("token_use", "refresh_token"), ErrInvalidType},
		{"token_type number", set("token_type", 1), ErrInvalidClaims},
		{"exp string", set("exp", "soon"), ErrInvalidClaims},
		{"iss number", set("iss", 1), ErrInvalidClaims},
		{"aud number", set("aud", 1), ErrInvalidClaims},
		{"scope number", set("scope", 1), ErrInvalidClaims},
		{"sub array", set("sub", []string{"a"}), ErrInvalidClaims},
		{"username object", set("username", map[string]any{}), ErrInvalidClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.v.Verify(t.Context(), f.opaque(t, tt.edit))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// An answer that the package's JSON reader accepts but encoding/json
// would not decode (nested deeper than it allows) is refused, so that
// Claims.Get works for every accepted token.
func TestIntrospectionRefusesTooDeepAnswer(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	a, _ := json.Marshal(f.answer())
	deep := strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001)
	body := append(a[:len(a)-1], []byte(`,"x":`+deep+`}`)...)
	token := "deep-" + randomString()
	f.srv.set(t, token, body)
	if _, err := f.v.Verify(t.Context(), token); !errors.Is(err, ErrIntrospection) {
		t.Fatalf("Verify = %v, want ErrIntrospection", err)
	}
}

func TestIntrospectionServerFailures(t *testing.T) {
	t.Parallel()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed to %s", r.URL)
	}))
	t.Cleanup(other.Close)
	const maxBytes = 4 << 10
	// Each handler is given a good active answer, and breaks one thing.
	answerWith := func(status int, ctype, tail string) func([]byte) http.HandlerFunc {
		return func(good []byte) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ctype)
				w.WriteHeader(status)
				_, _ = w.Write(append(slices.Clip(good), tail...))
			}
		}
	}
	tests := []struct {
		name    string
		handler func(good []byte) http.HandlerFunc // nil: wrong client credentials
		timeout time.Duration                      // Introspection.Timeout; 0: 200 ms
	}{
		{name: "client refused"},
		{name: "status 500", handler: answerWith(http.StatusInternalServerError, "application/json", "")},
		{name: "status 201", handler: answerWith(http.StatusCreated, "application/json", "")},
		{name: "not JSON type", handler: answerWith(http.StatusOK, "text/html", "")},
		{name: "no type", handler: answerWith(http.StatusOK, "", "")},
		{name: "trailing text", handler: answerWith(http.StatusOK, "application/json", "<html>")},
		{name: "JSON array", handler: func(good []byte) http.HandlerFunc {
			return answerWith(http.StatusOK, "application/json", "]")(append([]byte("["), good...))
		}},
		{name: "one byte over the cap", handler: func(good []byte) http.HandlerFunc {
			return answerWith(http.StatusOK, "application/json", strings.Repeat(" ", maxBytes+1-len(good)))(good)
		}},
		{name: "20 MB", handler: func(good []byte) http.HandlerFunc {
			return answerWith(http.StatusOK, "application/json", strings.Repeat(" ", 20<<20))(good)
		}},
		{name: "endless", timeout: 30 * time.Second, handler: func(good []byte) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(append(slices.Clip(good[:len(good)-1]), `,"x":"`...))
				chunk := []byte(strings.Repeat("a", 32<<10))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}
		}},
		{name: "slow", handler: func([]byte) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			}
		}},
		{name: "redirect", handler: func([]byte) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/introspect", http.StatusTemporaryRedirect)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIntroFixture(t, func(c *Config) {
				c.Introspection.Timeout = cmp.Or(tt.timeout, 200*time.Millisecond)
				c.Introspection.MaxResponseBytes = maxBytes
				if tt.handler == nil {
					c.Introspection.ClientSecret = "wrong"
				}
			})
			token := f.opaque(t, nil)
			if tt.handler != nil {
				f.srv.setHandler(tt.handler([]byte(f.srv.answerFor(token))))
			}
			for range 2 {
				start := time.Now()
				_, err := f.v.Verify(t.Context(), token)
				if !errors.Is(err, ErrIntrospection) {
					t.Fatalf("Verify = %v, want ErrIntrospection", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Fatalf("Verify took %v", d)
				}
			}
			if n := f.srv.calls.Load(); n != 2 {
				t.Errorf("server called %d times for two requests; failures must not be cached", n)
			}
		})
	}
}

func TestIntrospectionClientAuthentication(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"", authBasic, authPost} {
		t.Run("method "+method, func(t *testing.T) {
			t.Parallel()
			f := newIntroFixture(t, func(c *Config) { c.Introspection.AuthMethod = method })
			if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			req, form := f.srv.last()
			_, _, basic := req.BasicAuth()
			if basic != (method != authPost) || form.Has("client_secret") != (method == authPost) {
				t.Errorf("Authorization %q, form %v", req.Header.Get("Authorization"), form)
			}
			if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
			}
		})
	}
}

func TestIntrospectionAndJWTsSideBySide(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	now := f.clock.Now()
	jwt := signOwn(t, "ES256", f.srv.key, map[string]any{"kid": "k1"}, map[string]any{
		"iss": f.srv.URL, "aud": testAudience, "sub": "jwt-user",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	c, err := f.v.Verify(t.Context(), jwt)
	if err != nil || c.Subject() != "jwt-user" {
		t.Fatalf("Verify(JWT) = %v, %v", c, err)
	}
	if _, err := f.v.Verify(t.Context(), corrupt(jwt, 3)); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Verify(bad JWT) = %v, want ErrInvalidSignature", err)
	}
	if _, err := f.v.Verify(t.Context(), "a.b.c"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(a.b.c) = %v, want ErrMalformed", err)
	}
	if n := f.srv.calls.Load(); n != 0 {
		t.Errorf("JWT-shaped tokens went to introspection %d times", n)
	}
	if c, err := f.v.Verify(t.Context(), f.opaque(t, nil)); err != nil || c.Subject() != "ada" {
		t.Errorf("Verify(opaque) = %v, %v", c, err)
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Errorf("opaque token introspected %d times, want 1", n)
	}
}

func TestOpaqueTokenWithoutIntrospection(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, func(c *Config) { c.Introspection = nil })
	if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify = %v, want ErrMalformed", err)
	}
	if n := f.srv.calls.Load(); n != 0 {
		t.Errorf("server called %d times", n)
	}
}

// Tokens that are not RFC 6750 b64tokens never reach the server.
func TestIntrospectionRefusesNonBearerCharacters(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	for _, token := range []string{"", "a b", "a%20b", "tok\x00", "tøken", "a=b", "=abc", "a,b", "a\"b", "ab=,", "ab==\""} {
		f.srv.set(t, token, f.answer())
		if _, err := f.v.Verify(t.Context(), token); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", token, err)
		}
	}
	if n := f.srv.calls.Load(); n != 0 {
		t.Errorf("server called %d times", n)
	}
}

func TestIntrospectionHandlerAnswers(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	h := f.v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		_, _ = w.Write([]byte("hello " + c.Subject()))
	}))
	good := f.opaque(t, nil)
	inactive := f.opaque(t, func(a map[string]any) { a["active"] = false })
	if w := serve(h, request("/", good)); w.Code != http.StatusOK || w.Body.String() != "hello ada" {
		t.Errorf("good token: %d %q", w.Code, w.Body)
	}
	for name, token := range map[string]string{"inactive": inactive, "unknown": "never-issued"} {
		w := serve(h, request("/", token))
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	f.srv.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	down := f.opaque(t, nil)
	w := serve(h, request("/", down))
	if code, _ := errorBody(t, w); w.Code != http.StatusServiceUnavailable || code != "temporarily_unavailable" || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("server down: %d %s %q, want 503 temporarily_unavailable without a challenge", w.Code, code, w.Header().Get("WWW-Authenticate"))
	}
	if strings.Contains(w.Body.String()+w.Header().Get("WWW-Authenticate"), down) {
		t.Error("the response echoes the token")
	}
}

func TestIntrospectionConfig(t *testing.T) {
	t.Parallel()
	srv := newIntroServer(t)
	good := func() Config {
		return Config{
			Issuer:        srv.URL,
			Audiences:     []string{testAudience},
			Introspection: &Introspection{ClientID: "id", ClientSecret: "secret"},
		}
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string // in the error; "" for success
	}{
		{"defaults", func(*Config) {}, ""},
		{"explicit URL", func(c *Config) { c.Introspection.URL = srv.URL + "/introspect" }, ""},
		{"post", func(c *Config) { c.Introspection.AuthMethod = authPost }, ""},
		{"no Issuer", func(c *Config) {
			c.Issuer = ""
			c.Issuers = []Issuer{{URL: srv.URL}}
		}, "needs Config.Issuer"},
		{"http URL", func(c *Config) { c.Introspection.URL = "http://as.example.com/introspect" }, "introspection URL"},
		{"URL with query", func(c *Config) { c.Introspection.URL = srv.URL + "/introspect?x=1" }, "introspection URL"},
		{"no client ID", func(c *Config) { c.Introspection.ClientID = "" }, "ClientID"},
		{"no secret", func(c *Config) { c.Introspection.ClientSecret = "" }, "ClientSecret"},
		{"unknown auth method", func(c *Config) { c.Introspection.AuthMethod = "private_key_jwt" }, "AuthMethod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good()
			tt.edit(&cfg)
			v, err := New(t.Context(), cfg)
			if err == nil {
				v.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
}

func TestIntrospectionDiscovery(t *testing.T) {
	t.Parallel()
	noDiscovery := func(c *Config) { c.JWKSURL = c.Issuer + "/jwks" } // only introspection discovers
	t.Run("explicit URL skips it", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, func(c *Config) {
			noDiscovery(c)
			c.Introspection.URL = c.Issuer + "/introspect"
		})
		if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if n := f.srv.discovery.Load(); n != 0 {
			t.Errorf("%d metadata requests", n)
		}
	})
	t.Run("once", func(t *testing.T) {
		t.Parallel()
		f := newIntroFixture(t, noDiscovery)
		for range 3 {
			if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		}
		if n := f.srv.discovery.Load(); n != 1 {
			t.Errorf("%d metadata requests, want 1", n)
		}
	})
	bad := []struct {
		name string
		doc  func(url string) map[string]any
	}{
		{"issuer mismatch", func(u string) map[string]any {
			return map[string]any{"issuer": u + "/", "introspection_endpoint": u + "/introspect"}
		}},
		{"no endpoint", func(u string) map[string]any { return map[string]any{"issuer": u} }},
		{"http endpoint", func(u string) map[string]any {
			return map[string]any{"issuer": u, "introspection_endpoint": "http://as.example.com/introspect"}
		}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIntroFixture(t, noDiscovery)
			f.srv.setMetadata(tt.doc(f.srv.URL))
			for range 3 {
				if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); !errors.Is(err, ErrIntrospection) {
					t.Fatalf("Verify = %v, want ErrIntrospection", err)
				}
			}
			// Both documents were tried once; the failure is remembered.
			if n := f.srv.discovery.Load(); n != 2 {
				t.Errorf("%d metadata requests, want 2", n)
			}
			f.clock.Advance(discoveryRetry)
			f.srv.setMetadata(nil)
			if _, err := f.v.Verify(t.Context(), f.opaque(t, nil)); err != nil {
				t.Fatalf("Verify after the retry delay: %v", err)
			}
			if f.srv.calls.Load() != 1 {
				t.Errorf("introspection called %d times, want 1", f.srv.calls.Load())
			}
		})
	}
}

// The cnf rule applies to opaque tokens as to JWTs: a token bound to a
// DPoP key is refused as a bearer token, and accepted with the DPoP
// scheme and a proof of that key.
func TestIntrospectionSenderConstrained(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, nil)
	client := newDPoPClient(t, "ES256")
	token := f.opaque(t, func(a map[string]any) {
		a["token_type"] = "DPoP"
		a["cnf"] = map[string]any{"jkt": client.jkt}
	})
	if _, err := f.v.Verify(t.Context(), token); !errors.Is(err, ErrSenderConstrained) {
		t.Errorf("Verify = %v, want ErrSenderConstrained", err)
	}
	if _, err := f.v.Check(request(dpopTarget, token)); !errors.Is(err, ErrSenderConstrained) {
		t.Errorf("Check(Bearer) = %v, want ErrSenderConstrained", err)
	}
	proofs := &fixture{clock: f.clock} // proofFor reads only the clock
	c, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, token, client.proofFor(t, proofs, token, nil)))
	if err != nil || c.DPoPThumbprint() != client.jkt || c.Subject() != "ada" {
		t.Fatalf("Check(DPoP) = %v, %v", c, err)
	}
	other := newDPoPClient(t, "ES256")
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, token, other.proofFor(t, proofs, token, nil))); !errors.Is(err, ErrDPoPBinding) {
		t.Errorf("Check(DPoP, another key) = %v, want ErrDPoPBinding", err)
	}
	if n := f.srv.calls.Load(); n != 1 {
		t.Errorf("%d introspection calls, want 1", n)
	}
}
