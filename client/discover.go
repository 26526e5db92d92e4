package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxDiscoveryRedirects bounds the redirects Discover follows.
const maxDiscoveryRedirects = 5

// Metadata is an authorization server's metadata document (RFC 8414 §2),
// with the members this package uses. Discover returns it; Endpoint turns
// it into a Config's Endpoint. It is plain data: safe to read from several
// goroutines, not to modify meanwhile.
type Metadata struct {
	// Issuer is the issuer identifier; Discover checks it.
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint and TokenEndpoint are RFC 6749's endpoints.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	// JWKSURI is the server's JSON Web Key Set document.
	JWKSURI string `json:"jwks_uri"`
	// RegistrationEndpoint is RFC 7591's dynamic client registration.
	RegistrationEndpoint string `json:"registration_endpoint"`

	// ScopesSupported … CodeChallengeMethodsSupported list what the
	// server supports; empty means it does not say.
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`

	// RevocationEndpoint is RFC 7009's, IntrospectionEndpoint RFC 7662's.
	RevocationEndpoint    string `json:"revocation_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`

	// PushedAuthorizationRequestEndpoint and
	// RequirePushedAuthorizationRequests are RFC 9126's.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
	// DeviceAuthorizationEndpoint is RFC 8628's.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	// AuthorizationResponseIssParameterSupported is RFC 9207's.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// DPoPSigningAlgValuesSupported is RFC 9449's.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`

	// Raw holds every member of the document, these included.
	Raw map[string]any `json:"-"`
}

// Endpoint returns the endpoints and capabilities of m as a Config's
// Endpoint. It does not check the URLs: New does.
func (m *Metadata) Endpoint() Endpoint {
	return Endpoint{
		Issuer:                m.Issuer,
		AuthURL:               m.AuthorizationEndpoint,
		TokenURL:              m.TokenEndpoint,
		PARURL:                m.PushedAuthorizationRequestEndpoint,
		RevocationURL:         m.RevocationEndpoint,
		DeviceAuthURL:         m.DeviceAuthorizationEndpoint,
		RequirePAR:            m.RequirePushedAuthorizationRequests,
		IssParameterSupported: m.AuthorizationResponseIssParameterSupported,
	}
}

// Discover fetches the metadata of the authorization server issuer: first
// from RFC 8414's well-known URL, with the well-known segment between host
// and path (https://as.example/tenant →
// https://as.example/.well-known/oauth-authorization-server/tenant), and
// when that answers 404, from OpenID Connect's
// {issuer}/.well-known/openid-configuration.
//
// The document's issuer must equal issuer exactly (ErrIssuerMismatch),
// against mix-up attacks. issuer must be https, or http on a loopback host,
// without query or fragment; redirects are followed only to such URLs, at
// most five. hc nil means a client with a 10-second timeout, which a
// client without a Timeout gets too; its CheckRedirect, if any, runs after
// these checks. The document may be at most DefaultMaxResponseBytes
// (ErrResponseTooLarge). Discover does not check the endpoint URLs the
// document names; New checks them.
func Discover(ctx context.Context, issuer string, hc *http.Client) (*Metadata, error) {
	u, err := url.Parse(issuer)
	if err == nil {
		err = checkServerURL(issuer, false)
	}
	if err == nil && (u.RawQuery != "" || u.ForceQuery) {
		err = fmt.Errorf("%q has a query", issuer)
	}
	if err != nil {
		return nil, wrap("discovery", fmt.Errorf("issuer: %w", err))
	}
	hc = discoveryClient(hc)
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	urls := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	}
	var body []byte
	for i, doc := range urls {
		var status int
		status, body, err = fetchMetadata(ctx, hc, doc)
		if err != nil {
			return nil, wrap("discovery", err)
		}
		if status == http.StatusOK {
			break
		}
		if status != http.StatusNotFound || i == len(urls)-1 {
			return nil, wrap("discovery", fmt.Errorf("%s: HTTP %d %s", doc, status, http.StatusText(status)))
		}
	}
	m, err := parseMetadata(body)
	if err != nil {
		return nil, wrap("discovery", err)
	}
	if m.Issuer != issuer {
		return nil, wrap("discovery", fmt.Errorf("%w: metadata of %q names issuer %q", ErrIssuerMismatch, issuer, m.Issuer))
	}
	return m, nil
}

// discoveryClient returns a copy of hc (or a default client) that follows
// redirects only to https (or loopback http) URLs, with DefaultHTTPTimeout
// unless hc has a timeout.
func discoveryClient(hc *http.Client) *http.Client {
	out := &http.Client{}
	if hc != nil {
		*out = *hc
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultHTTPTimeout
	}
	next := out.CheckRedirect
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxDiscoveryRedirects {
			return errors.New("too many redirects")
		}
		if err := checkServerURL(req.URL.String(), false); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return out
}

// fetchMetadata GETs a metadata document and returns its status and, for
// a 200 answer, its body.
func fetchMetadata(ctx context.Context, hc *http.Client, doc string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	body, err := readCapped(resp, DefaultMaxResponseBytes)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// parseMetadata decodes a metadata document: a JSON object whose known
// members have the right types.
func parseMetadata(body []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(body, &m.Raw); err != nil || m.Raw == nil {
		return nil, fmt.Errorf("%w: metadata is not a JSON object", ErrMalformedResponse)
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrMalformedResponse, err)
	}
	return &m, nil
}
