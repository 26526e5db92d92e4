package middleware

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMetadataRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resource, pattern, url string
	}{
		{"https://api.example.com", "GET /.well-known/oauth-protected-resource", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com/", "GET /.well-known/oauth-protected-resource", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com/v1/", "GET /.well-known/oauth-protected-resource/v1", "https://api.example.com/.well-known/oauth-protected-resource/v1"},
		{"http://127.0.0.1:8081", "GET /.well-known/oauth-protected-resource", "http://127.0.0.1:8081/.well-known/oauth-protected-resource"},
	}
	for _, tc := range tests {
		v, err := New(context.Background(), Config{
			Issuer:           "https://id.example.com",
			Issuers:          []Issuer{{URL: "https://other.example.com"}},
			Audiences:        []string{tc.resource},
			ResourceMetadata: &ResourceMetadata{Resource: tc.resource, ScopesSupported: []string{"read", "admin"}},
			CacheSize:        -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
		pattern, h := v.MetadataRoute()
		if pattern != tc.pattern || v.metadata.url != tc.url {
			t.Errorf("%s: pattern %q, url %q", tc.resource, pattern, v.metadata.url)
		}
		mux := http.NewServeMux()
		mux.Handle(v.MetadataRoute())
		w := serve(mux, httptest.NewRequest(http.MethodGet, tc.url, nil))
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.resource, w.Code, w.Body)
		}
		want := map[string]any{
			"resource":                          tc.resource,
			"authorization_servers":             []any{"https://id.example.com", "https://other.example.com"},
			"scopes_supported":                  []any{"read", "admin"},
			"bearer_methods_supported":          []any{"header"},
			"dpop_signing_alg_values_supported": []any{"ES256", "RS256", "PS256", "EdDSA"},
		}
		got, _ := json.Marshal(doc)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("metadata %s\nwant %s", got, wantJSON)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if w := serve(h, httptest.NewRequest(http.MethodPost, tc.url, nil)); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", w.Code)
		}
		// The challenge points at the metadata.
		w = serve(v.Handler(whoami), request("/", ""))
		if got, want := w.Header().Get("WWW-Authenticate"), `Bearer resource_metadata="`+tc.url+`"`; got != want {
			t.Errorf("challenge %q, want %q", got, want)
		}
	}
}

func TestMetadataDPoPRequired(t *testing.T) {
	t.Parallel()
	v, err := New(context.Background(), Config{
		Issuer:           "https://id.example.com",
		Audiences:        []string{"https://api.example.com"},
		ResourceMetadata: &ResourceMetadata{Resource: "https://api.example.com"},
		DPoP:             DPoPConfig{Required: true, Algorithms: []string{"EdDSA"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	_, h := v.MetadataRoute()
	w := serve(h, httptest.NewRequest(http.MethodGet, "https://api.example.com/.well-known/oauth-protected-resource", nil))
	var doc struct {
		Algs     []string `json:"dpop_signing_alg_values_supported"`
		Required bool     `json:"dpop_bound_access_tokens_required"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || !doc.Required || len(doc.Algs) != 1 || doc.Algs[0] != "EdDSA" {
		t.Errorf("metadata %s: want EdDSA only and DPoP required", w.Body)
	}
}

func TestMetadataRouteUnconfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	mux := http.NewServeMux()
	mux.Handle(f.v.MetadataRoute())
	if w := serve(mux, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource", nil)); w.Code != http.StatusNotFound {
		t.Errorf("status %d", w.Code)
	}
}
