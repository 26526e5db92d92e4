package middleware

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNormalizeHTU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "": refused
	}{
		{"https://api.example.com/r", "https://api.example.com/r"},
		{"HTTPS://API.Example.COM/r", "https://api.example.com/r"},
		{"https://api.example.com:443/r", "https://api.example.com/r"},
		{"http://api.example.com:80/r", "http://api.example.com/r"},
		{"https://api.example.com:80/r", "https://api.example.com:80/r"},
		{"http://api.example.com:443/r", "http://api.example.com:443/r"},
		{"https://api.example.com:8443/r", "https://api.example.com:8443/r"},
		{"https://api.example.com:/r", "https://api.example.com/r"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?q", "https://api.example.com/"},
		{"https://api.example.com/r?q=1#f", "https://api.example.com/r"},
		{"https://api.example.com/r#f?q", "https://api.example.com/r"},
		{"https://api.example.com/%7euser", "https://api.example.com/~user"},
		{"https://api.example.com/%7Euser", "https://api.example.com/~user"},
		{"https://api.example.com/%41%2d%5F", "https://api.example.com/A-_"},
		{"https://api.example.com/a%2fb", "https://api.example.com/a%2Fb"},
		{"https://api.example.com/caf%c3%a9", "https://api.example.com/caf%C3%A9"},
		{"https://api.example.com/R", "https://api.example.com/R"},
		{"https://api.example.com/a/./b/../c", "https://api.example.com/a/c"},
		{"https://api.example.com/a/%2E%2E/c", "https://api.example.com/c"},
		{"https://api.example.com/a/b/..", "https://api.example.com/a/"},
		{"https://api.example.com/../..", "https://api.example.com/"},
		{"https://api.example.com/a//b/.", "https://api.example.com/a//b/"},
		{"https://api.example.com/.well-known/x", "https://api.example.com/.well-known/x"},
		{"https://[::1]:443/r", "https://[::1]/r"},
		{"https://[::1]/r", "https://[::1]/r"},
		{"https://[::1]:8443/r", "https://[::1]:8443/r"},
		{"https://ex%41mple.com/r", "https://example.com/r"},
		{"https://u:p@api.example.com/r", ""},
		{"https://user@api.example.com/r", ""},
		{"https://api.example.com:44x/r", ""},
		{"https:///r", ""},
		{"https://:443/r", ""},
		{"/r", ""},
		{"api.example.com/r", ""},
		{"://api.example.com/r", ""},
		{"1http://api.example.com/r", ""},
		{"https://api.example.com/a%2", ""},
		{"https://api.example.com/a%zz", ""},
		{"https://api.example.com/a b", ""},
		{"https://api.example.com/café", ""},
		{"https://api.example.com/" + strings.Repeat("a", maxURLBytes), ""},
	}
	for _, tc := range tests {
		got, ok := normalizeHTU(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("normalizeHTU(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// TestDPoPHTURequests: the request URL a proof must match, from the
// request or from DPoPConfig.URL.
func TestDPoPHTURequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	behindProxy := newFixtureFor(t, f.srv, func(c *Config) {
		c.Now = f.clock.Now
		c.DPoP.URL = func(r *http.Request) string { return "https://api.example.com/v1" + r.URL.EscapedPath() }
	})
	badURL := newFixtureFor(t, f.srv, func(c *Config) {
		c.Now = f.clock.Now
		c.DPoP.URL = func(r *http.Request) string { return "not a URL" }
	})
	c := newDPoPClient(t, "ES256")
	tests := []struct {
		name   string
		v      *Validator
		method string
		target string // of the request
		host   string // "" keeps the target's
		htu    string
		want   error
	}{
		{"host in upper case", f.v, "GET", "http://api.example.com/r", "API.Example.com", "http://api.example.com/r", nil},
		{"htu host in upper case", f.v, "GET", "http://api.example.com/r", "", "http://API.EXAMPLE.COM/r", nil},
		{"default port in htu", f.v, "GET", "https://api.example.com/r", "", "https://api.example.com:443/r", nil},
		{"default port in Host", f.v, "GET", "https://api.example.com/r", "api.example.com:443", "https://api.example.com/r", nil},
		{"other port", f.v, "GET", "https://api.example.com/r", "api.example.com:8443", "https://api.example.com/r", errProofURL},
		{"query ignored", f.v, "GET", "http://api.example.com/r?a=1", "", "http://api.example.com/r?b=2", nil},
		{"%7e and ~", f.v, "GET", "http://api.example.com/~u", "", "http://api.example.com/%7eu", nil},
		{"~ and %7E", f.v, "GET", "http://api.example.com/%7Eu", "", "http://api.example.com/~u", nil},
		{"path case differs", f.v, "GET", "http://api.example.com/r", "", "http://api.example.com/R", errProofURL},
		{"TLS makes https", f.v, "GET", "https://api.example.com/r", "", "http://api.example.com/r", errProofURL},
		{"POST", f.v, "POST", "http://api.example.com/r", "", "http://api.example.com/r", nil},
		{"behind a proxy", behindProxy.v, "GET", "http://10.0.0.7:8080/r", "", "https://api.example.com/v1/r", nil},
		{"behind a proxy, internal URL", behindProxy.v, "GET", "http://10.0.0.7:8080/r", "", "http://10.0.0.7:8080/r", errProofURL},
		{"URL func answers junk", badURL.v, "GET", "http://api.example.com/r", "", "http://api.example.com/r", errRequestURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := f.boundToken(t, c.jkt)
			proof := c.proofFor(t, f, tok, func(_, claims map[string]any) {
				claims["htu"], claims["htm"] = tc.htu, tc.method
			})
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.host != "" {
				r.Host = tc.host
			}
			r.Header.Set("Authorization", "DPoP "+tok)
			r.Header.Set("DPoP", proof)
			if _, err := tc.v.Check(r); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Check: %v, want %v", err, tc.want)
			}
		})
	}
}
