package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// wellKnownMetadata is the well-known URI suffix of RFC 9728 §3.
const wellKnownMetadata = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the OAuth 2.0 protected resource metadata of RFC
// 9728, served by Validator.MetadataRoute. Only Resource is required. The
// served document also lists the DPoP proof algorithms accepted
// (dpop_signing_alg_values_supported) and, with DPoPConfig.Required,
// dpop_bound_access_tokens_required: true.
type ResourceMetadata struct {
	// Resource is the resource identifier: an https URL (http on a
	// loopback host) without query or fragment, usually the audience
	// tokens are issued for. The metadata URL is derived from it (RFC
	// 9728 §3.1).
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers clients get tokens from. Empty
	// means the configured issuers.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported lists the scopes the resource uses.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported: empty means ["header"], the only method the
	// Validator accepts besides its cookie.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ResourceName, ResourceDocumentation, ResourcePolicyURI and
	// ResourceTOSURI are shown to people.
	ResourceName          string `json:"resource_name,omitempty"`
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	ResourcePolicyURI     string `json:"resource_policy_uri,omitempty"`
	ResourceTOSURI        string `json:"resource_tos_uri,omitempty"`
}

// metadataDoc is the metadata ready to serve.
type metadataDoc struct {
	url     string // where it is served
	pattern string // ServeMux pattern of url's path
	body    []byte
}

func (v *Validator) setMetadata(cfg *Config) error {
	if cfg.ResourceMetadata == nil {
		return nil
	}
	m := *cfg.ResourceMetadata
	if err := checkURL(m.Resource); err != nil {
		return fmt.Errorf("middleware: ResourceMetadata.Resource %q: %w", m.Resource, err)
	}
	if len(m.AuthorizationServers) == 0 {
		if cfg.Issuer != "" {
			m.AuthorizationServers = append(m.AuthorizationServers, cfg.Issuer)
		}
		for _, iss := range cfg.Issuers {
			m.AuthorizationServers = append(m.AuthorizationServers, iss.URL)
		}
	}
	if len(m.BearerMethodsSupported) == 0 {
		m.BearerMethodsSupported = []string{"header"}
	}
	m.AuthorizationServers = slices.Clone(m.AuthorizationServers)
	body, err := json.Marshal(struct {
		ResourceMetadata
		DPoPAlgs     []string `json:"dpop_signing_alg_values_supported"`
		DPoPRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
	}{m, strings.Fields(v.dpop.algs), v.dpop.required})
	if err != nil {
		return fmt.Errorf("middleware: ResourceMetadata: %w", err)
	}
	u, _ := url.Parse(m.Resource) // checked above
	path := wellKnownMetadata + strings.TrimSuffix(u.EscapedPath(), "/")
	v.metadata = &metadataDoc{
		url:     u.Scheme + "://" + u.Host + path,
		pattern: "GET " + path,
		body:    body,
	}
	return nil
}

// MetadataRoute returns the ServeMux pattern and handler of the protected
// resource metadata (RFC 9728), to be mounted with
//
//	mux.Handle(v.MetadataRoute())
//
// The pattern is "GET /.well-known/oauth-protected-resource" followed by
// the path of ResourceMetadata.Resource, if any. Without
// Config.ResourceMetadata the handler answers 404. The route needs no
// token: mount it outside Handler, or list it in Config.OptionalPatterns.
func (v *Validator) MetadataRoute() (pattern string, h http.Handler) {
	if v.metadata == nil {
		return "GET " + wellKnownMetadata, http.NotFoundHandler()
	}
	m := v.metadata
	return m.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(m.body)
	})
}
