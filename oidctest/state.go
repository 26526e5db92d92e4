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
}

type refreshEntry struct {
	grant
	expires time.Time
	used    bool // rotated away: presenting it again is reuse
}

type accessEntry struct {
	grant
	aud     []string
	expires time.Time
	issued  time.Time
	revoked bool
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
	assertionJTIs map[string]time.Time    // private_key_jwt replay cache
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
	}
}

// randomID returns 32 random bytes, base64url encoded.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b64.EncodeToString(b)
}
