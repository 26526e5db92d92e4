package oidctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Endpoint names, as used by Requests and Fault.
const (
	EndpointDiscovery  = "discovery"
	EndpointJWKS       = "jwks"
	EndpointAuthorize  = "authorize"
	EndpointLogin      = "login"
	EndpointToken      = "token"
	EndpointUserinfo   = "userinfo"
	EndpointEndSession = "end_session"
	EndpointRevoke     = "revoke"
	EndpointIntrospect = "introspect"
	EndpointPAR        = "par"
	// EndpointDeviceAuthorization is the RFC 8628 device authorization
	// endpoint, where a device asks for a device code and a user code.
	EndpointDeviceAuthorization = "device_authorization"
	// EndpointDevice is the HTML page where the user enters a user code
	// and approves or denies the device.
	EndpointDevice = "device"
)

// Request is one request the server received.
type Request struct {
	Endpoint string // one of the Endpoint constants, or "" for unknown paths
	Method   string
	URL      *url.URL
	Header   http.Header
	Form     url.Values // query and body parameters
	Time     time.Time
}

// Server is an OpenID Provider on a loopback address, for tests and demos.
// Create it with NewServer and stop it with Close. All methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL of the server, e.g. http://127.0.0.1:41234.
	URL string
	// Issuer is URL followed by Config.IssuerPath.
	Issuer string

	cfg  Config
	http *httptest.Server

	mu       sync.Mutex
	keys     *keySet
	users    []User
	clients  map[string]Client
	faults   Faults
	requests []Request
	state    *grantStore

	closed    chan struct{} // closed by Close: ends fault delays
	closeOnce sync.Once
}

// NewServer starts a server on 127.0.0.1 with cfg. It panics if it cannot
// listen or generate keys, as httptest.NewServer does.
func NewServer(cfg Config) *Server {
	s, err := newServer(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

func newServer(cfg Config) (*Server, error) {
	keys, err := newKeySet()
	if err != nil {
		return nil, err
	}
	switch cfg.SigningAlg {
	case "":
		cfg.SigningAlg = RS256
	case RS256, ES256, EdDSA, HS256:
	default:
		return nil, fmt.Errorf("oidctest: unsupported SigningAlg %q", cfg.SigningAlg)
	}
	if cfg.IssuerPath != "" && !strings.HasPrefix(cfg.IssuerPath, "/") {
		return nil, fmt.Errorf("oidctest: IssuerPath %q must start with /", cfg.IssuerPath)
	}
	cfg.AccessTokenTTL = orDefault(cfg.AccessTokenTTL, 5*time.Minute)
	cfg.IDTokenTTL = orDefault(cfg.IDTokenTTL, 5*time.Minute)
	cfg.RefreshTokenTTL = orDefault(cfg.RefreshTokenTTL, 24*time.Hour)
	cfg.CodeTTL = orDefault(cfg.CodeTTL, time.Minute)
	cfg.DeviceCodeTTL = orDefault(cfg.DeviceCodeTTL, 5*time.Minute)
	cfg.DeviceInterval = orDefault(cfg.DeviceInterval, 5*time.Second)
	cfg.DPoPProofWindow = orDefault(cfg.DPoPProofWindow, time.Minute)
	cfg.DPoPNonceTTL = orDefault(cfg.DPoPNonceTTL, time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	users := cfg.Users
	if len(users) == 0 {
		users = []User{DemoUser}
	}
	s := &Server{
		cfg:     cfg,
		keys:    keys,
		users:   users,
		clients: make(map[string]Client),
		state:   newGrantStore(),
		closed:  make(chan struct{}),
	}
	for _, c := range cfg.Clients {
		if err := s.AddClient(c); err != nil {
			return nil, err
		}
	}
	s.http = httptest.NewServer(s.routes())
	s.URL = s.http.URL
	s.Issuer = s.URL + cfg.IssuerPath
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close shuts the server down and blocks until all requests have finished;
// requests held by a Failure.Delay are answered at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.http.Close()
}

// Client returns an HTTP client for talking to the server.
func (s *Server) Client() *http.Client { return s.http.Client() }

// AddClient registers c, replacing any client with the same ID. It fails
// when c has no ID, an unknown AuthMethod, or lacks what its method needs:
// a Secret for client_secret_basic, client_secret_post and
// client_secret_jwt, JWKS for private_key_jwt.
func (s *Server) AddClient(c Client) error {
	if c.ID == "" {
		return fmt.Errorf("oidctest: client needs an ID")
	}
	switch c.authMethod() {
	case "client_secret_basic", "client_secret_post", "client_secret_jwt":
		if c.Secret == "" {
			return fmt.Errorf("oidctest: client %q: %s needs a Secret", c.ID, c.authMethod())
		}
	case "private_key_jwt":
		if len(c.JWKS.Keys) == 0 {
			return fmt.Errorf("oidctest: client %q: private_key_jwt needs JWKS", c.ID)
		}
	case "none":
	default:
		return fmt.Errorf("oidctest: client %q: unsupported auth method %q", c.ID, c.AuthMethod)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
	return nil
}

func (s *Server) client(id string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// RotateKeys makes a new generation of signing keys active. The previous
// keys stay in the JWKS until RetireKeys, so tokens they signed still verify.
func (s *Server) RotateKeys() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.rotate()
}

// RetireKeys removes every key but the active ones from the JWKS.
func (s *Server) RetireKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys.retire()
}

// JWKS returns the public keys the server publishes.
func (s *Server) JWKS() jose.JSONWebKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.jwks()
}

// Requests returns the requests received so far, oldest first. With
// endpoint names given, only requests to those endpoints.
func (s *Server) Requests(endpoints ...string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if len(endpoints) == 0 || contains(endpoints, r.Endpoint) {
			u := *r.URL
			r.URL, r.Header, r.Form = &u, r.Header.Clone(), cloneValues(r.Form)
			out = append(out, r) // copies: callers cannot change the record
		}
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// maxFormBytes caps request bodies the server reads.
const maxFormBytes = 1 << 20

// routes maps paths below the issuer to endpoint handlers.
func (s *Server) routes() http.Handler {
	p := s.cfg.IssuerPath
	endpoints := map[string]struct {
		name string
		h    http.HandlerFunc
	}{
		p + "/.well-known/openid-configuration":       {EndpointDiscovery, s.discovery},
		"/.well-known/oauth-authorization-server" + p: {EndpointDiscovery, s.discovery},
		p + "/jwks":                 {EndpointJWKS, s.jwksHandler},
		p + "/authorize":            {EndpointAuthorize, s.authorize},
		p + "/login":                {EndpointLogin, s.login},
		p + "/token":                {EndpointToken, s.token},
		p + "/userinfo":             {EndpointUserinfo, s.userinfo},
		p + "/end_session":          {EndpointEndSession, s.endSession},
		p + "/revoke":               {EndpointRevoke, s.revoke},
		p + "/introspect":           {EndpointIntrospect, s.introspect},
		p + "/par":                  {EndpointPAR, s.par},
		p + "/device_authorization": {EndpointDeviceAuthorization, s.deviceAuthorization},
		p + "/device":               {EndpointDevice, s.devicePage},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		_ = r.ParseForm()
		e, ok := endpoints[r.URL.Path]
		s.record(e.name, r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if s.applyFault(w, r, e.name) {
			return
		}
		e.h(w, r)
	})
}

func (s *Server) record(endpoint string, r *http.Request) {
	u := *r.URL
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Endpoint: endpoint,
		Method:   r.Method,
		URL:      &u,
		Header:   r.Header.Clone(),
		Form:     cloneValues(r.Form),
		Time:     s.now(),
	})
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError writes an RFC 6749 §5.2 error response.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}
