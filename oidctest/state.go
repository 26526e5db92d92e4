package oidctest

import (
	"crypto/rand"
	"sync"
	"time"
)

// authRequest is a validated authorization request.
type authRequest struct {
	clientID      string
	redirectURI   string
	scope         string
	state         string
	nonce         string
	codeChallenge string
	responseMode  string
	prompt        string
	maxAge        int // -1 when absent
	acrValues     string
	resources     []string
	dpopJKT       string // RFC 9449 §10: the key the code must be redeemed with
}

// grant is what a code or refresh token stands for.
type grant struct {
	clientID  string
	subject   string
	scope     string
	nonce     string
	resources []string
	authTime  time.Time
	sid       string
	acr       string
	family    string // tokens issued from one code: revoked together
}

type codeEntry struct {
	grant
	redirectURI   string
	codeChallenge string
	expires       time.Time
	used          bool
	family        string // the family of the tokens issued from this code
	dpopJKT       string // thumbprint the redeeming proof's key must have
}

type refreshEntry struct {
	grant
	expires time.Time
	used    bool   // rotated away: presenting it again is reuse
	jkt     string // DPoP key a public client must prove to refresh
}

// accessEntry records an access token with everything its JWT form
// carries, so that introspection can answer for opaque tokens too.
type accessEntry struct {
	grant
	aud     []string
	expires time.Time
	issued  time.Time
	jti     string
	jkt     string         // DPoP key thumbprint (cnf.jkt), "" when unbound
	act     map[string]any // RFC 8693 actor, nil unless exchanged
	opaque  bool
	revoked bool
}

func (e *accessEntry) tokenType() string {
	if e.jkt != "" {
		return "DPoP"
	}
	return "Bearer"
}

// pendingLogin is an interactive login waiting for the user's password.
type pendingLogin struct {
	req     authRequest
	expires time.Time
}

type parEntry struct {
	req     authRequest
	expires time.Time
}

type opSession struct {
	subject  string
	authTime time.Time
}

// grantStore holds the server's codes, tokens and sessions.
type grantStore struct {
	mu            sync.Mutex
	codes         map[string]*codeEntry
	refresh       map[string]*refreshEntry
	revokedFamily map[string]bool
	access        map[string]*accessEntry
	par           map[string]*parEntry
	pending       map[string]pendingLogin // interactive logins in progress
	sessions      map[string]*opSession   // by sid
	idTokens      map[string]string       // ID token → client ID
	assertionJTIs map[string]time.Time    // client assertion replay cache
	devices       map[string]*deviceEntry // by device code
	userCodes     map[string]string       // normalized user code → device code
	dpopJTIs      map[string]time.Time    // jkt+jti → when it may be forgotten
	dpopNonce     nonceState
}

func newGrantStore() *grantStore {
	return &grantStore{
		codes:         make(map[string]*codeEntry),
		refresh:       make(map[string]*refreshEntry),
		revokedFamily: make(map[string]bool),
		access:        make(map[string]*accessEntry),
		par:           make(map[string]*parEntry),
		pending:       make(map[string]pendingLogin),
		sessions:      make(map[string]*opSession),
		idTokens:      make(map[string]string),
		assertionJTIs: make(map[string]time.Time),
		devices:       make(map[string]*deviceEntry),
		userCodes:     make(map[string]string),
		dpopJTIs:      make(map[string]time.Time),
	}
}

// randomID returns 32 random bytes, base64url encoded.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b64.EncodeToString(b)
}
