package client_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

const testIssuer = "https://op.example"

func TestParseResponse(t *testing.T) {
	t.Parallel()
	newClient := func(t *testing.T, issParam bool) *client.Client {
		c, err := client.New(client.Config{
			ClientID: "app",
			Endpoint: client.Endpoint{
				Issuer: testIssuer, AuthURL: testIssuer + "/authorize", TokenURL: testIssuer + "/token",
				IssParameterSupported: issParam,
			},
			RedirectURL: "https://app.example/cb",
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		issParam bool                                     // Endpoint.IssParameterSupported
		params   func(req *client.AuthRequest) url.Values // the response
		req      func(req *client.AuthRequest) *client.AuthRequest
		want     error             // sentinel, or nil for success
		wantAuth *client.AuthError // an *AuthError instead
	}{
		{name: "valid", issParam: true, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}, "iss": {testIssuer}}
		}},
		{name: "state mismatch", issParam: true, want: client.ErrStateMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State + "x"}, "iss": {testIssuer}}
		}},
		{name: "state missing", want: client.ErrStateMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "iss": {testIssuer}}
		}},
		{name: "state repeated", want: client.ErrMalformedResponse, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State, "other"}, "iss": {testIssuer}}
		}},
		{name: "injected error with wrong state", want: client.ErrStateMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {"forged"}, "iss": {testIssuer}}
		}},
		{name: "injected error without state", want: client.ErrStateMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"error": {"access_denied"}, "iss": {testIssuer}}
		}},
		{name: "error response", issParam: true, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"error": {"access_denied"}, "error_description": {"user said no"}, "error_uri": {"https://op.example/e"},
				"state": {r.State}, "iss": {testIssuer}}
		}, wantAuth: &client.AuthError{Code: "access_denied", Description: "user said no", URI: "https://op.example/e"}},
		{name: "error response from another issuer", issParam: true, want: client.ErrIssuerMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {r.State}, "iss": {"https://evil.example"}}
		}},
		{name: "iss mismatch", want: client.ErrIssuerMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}, "iss": {"https://evil.example"}}
		}},
		{name: "iss with trailing slash", want: client.ErrIssuerMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}, "iss": {testIssuer + "/"}}
		}},
		{name: "iss empty", want: client.ErrIssuerMismatch, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}, "iss": {""}}
		}},
		{name: "iss repeated", want: client.ErrMalformedResponse, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}, "iss": {testIssuer, "https://evil.example"}}
		}},
		{name: "iss missing, supported", issParam: true, want: client.ErrIssuerMissing, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}}
		}},
		{name: "iss missing, not supported", params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c"}, "state": {r.State}}
		}},
		{name: "code missing", want: client.ErrMalformedResponse, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"state": {r.State}, "iss": {testIssuer}}
		}},
		{name: "code repeated", want: client.ErrMalformedResponse, params: func(r *client.AuthRequest) url.Values {
			return url.Values{"code": {"c", "d"}, "state": {r.State}, "iss": {testIssuer}}
		}},
		{name: "request to another issuer", want: client.ErrIssuerMismatch,
			params: func(r *client.AuthRequest) url.Values {
				return url.Values{"code": {"c"}, "state": {r.State}, "iss": {"https://other.example"}}
			},
			req: func(r *client.AuthRequest) *client.AuthRequest {
				r.Issuer = "https://other.example"
				return r
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tt.issParam)
			req, err := c.AuthCodeURL(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			params := tt.params(req)
			if tt.req != nil {
				req = tt.req(req)
			}
			code, err := c.ParseResponse(params, req)
			switch {
			case tt.wantAuth != nil:
				var ae *client.AuthError
				if !errors.As(err, &ae) || *ae != *tt.wantAuth {
					t.Fatalf("ParseResponse: %v, want %+v", err, tt.wantAuth)
				}
			case tt.want != nil:
				wantIs(t, err, tt.want)
				var ae *client.AuthError
				if errors.As(err, &ae) {
					t.Fatalf("an AuthError got through: %v", err)
				}
			case err != nil || code != "c":
				t.Fatalf("ParseResponse = %q, %v", code, err)
			}
		})
	}
}

func TestParseResponseNeedsRequest(t *testing.T) {
	t.Parallel()
	c, err := client.New(client.Config{ClientID: "app", Endpoint: client.Endpoint{TokenURL: testIssuer + "/token"}})
	if err != nil {
		t.Fatal(err)
	}
	params := url.Values{"code": {"c"}, "state": {""}}
	for name, req := range map[string]*client.AuthRequest{"nil": nil, "empty": {}, "no verifier": {State: "s"}} {
		if _, err := c.ParseResponse(params, req); err == nil {
			t.Errorf("%s request: ParseResponse succeeded", name)
		}
	}
}

// TestIssParameterAtProvider drives RFC 9207 through oidctest's
// authorization responses.
func TestIssParameterAtProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(url.Values)
		issParam bool
		want     error
	}{
		{"iss sent", nil, true, nil},
		{"iss missing, supported", func(p url.Values) { p.Del("iss") }, true, client.ErrIssuerMissing},
		{"iss missing, not supported", func(p url.Values) { p.Del("iss") }, false, nil},
		{"iss of another server", func(p url.Values) { p.Set("iss", "https://evil.example") }, false, client.ErrIssuerMismatch},
		{"state altered", func(p url.Values) { p.Set("state", "forged") }, true, client.ErrStateMismatch},
		{"error with altered state", func(p url.Values) {
			p.Del("code")
			p.Set("error", "access_denied")
			p.Set("state", "forged")
		}, true, client.ErrStateMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			f.srv.SetFaults(oidctest.Faults{AuthorizationResponse: tt.edit})
			c := f.client(t, basicID, func(cfg *client.Config) { cfg.Endpoint.IssParameterSupported = tt.issParam })
			req, err := c.AuthCodeURL(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			code, err := c.ParseResponse(authorize(t, req.URL), req)
			if tt.want != nil {
				wantIs(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exchange(t.Context(), code, req); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFormPostResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c, client.FormPost())
	if tok.IDToken == "" {
		t.Fatal("no ID token")
	}
}
