package client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
)

// Limits of the DPoP nonce cache.
const (
	// MaxDPoPNonceBytes caps the length of a DPoP nonce; a longer one is
	// refused.
	MaxDPoPNonceBytes = 512
	// MaxDPoPNonceOrigins caps the number of origins whose nonce a DPoP
	// remembers; beyond it, the origin updated longest ago is forgotten.
	MaxDPoPNonceOrigins = 256
)

// nonceCache holds the last DPoP nonce of each origin. The zero value is
// empty and ready; it is safe for concurrent use.
type nonceCache struct {
	mu  sync.Mutex
	m   map[string]nonceEntry
	seq uint64
}

type nonceEntry struct {
	nonce string
	seq   uint64 // when it was set: the smallest is evicted first
}

// get returns origin's nonce, or "".
func (c *nonceCache) get(origin string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[origin].nonce
}

// set records origin's nonce after checking it (RFC 9449 §8.1: nonce =
// 1*NQCHAR).
func (c *nonceCache) set(origin, nonce string) error {
	if err := checkNonce(nonce); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]nonceEntry)
	}
	if _, ok := c.m[origin]; !ok && len(c.m) >= MaxDPoPNonceOrigins {
		c.evictOldest()
	}
	c.seq++
	c.m[origin] = nonceEntry{nonce: nonce, seq: c.seq}
	return nil
}

// evictOldest forgets the entry set longest ago; c.mu is held. The scan
// is bounded by MaxDPoPNonceOrigins.
func (c *nonceCache) evictOldest() {
	var oldest string
	var oldestSeq uint64
	first := true
	for origin, e := range c.m {
		if first || e.seq < oldestSeq {
			oldest, oldestSeq, first = origin, e.seq, false
		}
	}
	delete(c.m, oldest)
}

// checkNonce accepts 1 to MaxDPoPNonceBytes NQCHARs (%x21 / %x23-5B /
// %x5D-7E).
func checkNonce(nonce string) error {
	switch {
	case nonce == "":
		return errors.New("client: empty DPoP nonce")
	case len(nonce) > MaxDPoPNonceBytes:
		return fmt.Errorf("client: DPoP nonce of %d bytes, limit %d", len(nonce), MaxDPoPNonceBytes)
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("client: DPoP nonce has byte %#x", c)
		}
	}
	return nil
}

// originOf returns u's origin, scheme://host:port, with the scheme and
// host lower-cased and the default port of http and https made explicit,
// so that equal origins have equal keys.
func originOf(u *url.URL) (string, error) {
	if !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("client: %q is not an absolute URL", u.Redacted())
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}
