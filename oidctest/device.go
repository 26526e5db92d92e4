package oidctest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The RFC 8628 device authorization grant.

const (
	// userCodeAlphabet has no vowels (no words) and no look-alikes.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
	maxDevices       = 10000           // cap on device codes kept
	slowDownStep     = 5 * time.Second // RFC 8628 §3.5
)

type deviceStatus int

const (
	devicePending deviceStatus = iota
	deviceApproved
	deviceDenied
	deviceUsed // tokens were issued
)

// deviceEntry is a device authorization: its grant gets a subject when
// the user approves.
type deviceEntry struct {
	grant
	userCode string // normalized: 8 letters, no dash
	expires  time.Time
	interval time.Duration // grows by slowDownStep on each slow_down
	lastPoll time.Time
	status   deviceStatus
}

// deviceAuthorization is the device authorization endpoint (RFC 8628
// §3.1). It authenticates the client as the token endpoint does.
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	c, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	resources := r.PostForm["resource"]
	if !validResources(resources) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without fragment")
		return
	}
	now := s.now()
	e := &deviceEntry{
		grant:    grant{clientID: c.ID, scope: r.PostForm.Get("scope"), resources: resources},
		expires:  now.Add(s.cfg.DeviceCodeTTL),
		interval: s.cfg.DeviceInterval,
	}
	deviceCode, err := s.addDevice(e, now)
	if err != nil {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
		return
	}
	userCode := formatUserCode(e.userCode)
	verify := s.Issuer + "/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               deviceCode,
		"user_code":                 userCode,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + userCode,
		"expires_in":                wholeSeconds(s.cfg.DeviceCodeTTL),
		"interval":                  wholeSeconds(s.cfg.DeviceInterval),
	})
}

// wholeSeconds rounds d up to whole seconds, at least 1.
func wholeSeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// addDevice stores e under a new device code and a new user code, and
// returns the device code.
func (s *Server) addDevice(e *deviceEntry, now time.Time) (string, error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if len(s.state.devices) >= maxDevices {
		for code, d := range s.state.devices {
			if !now.Before(d.expires) {
				delete(s.state.devices, code)
				delete(s.state.userCodes, d.userCode)
			}
		}
		if len(s.state.devices) >= maxDevices {
			return "", errors.New("oidctest: too many device authorizations in progress")
		}
	}
	for range 10 { // 20^8 codes: a clash is rare, ten in a row impossible
		uc, err := newUserCode()
		if err != nil {
			return "", err
		}
		if _, taken := s.state.userCodes[uc]; taken {
			continue
		}
		e.userCode = uc
		code := randomID()
		s.state.devices[code] = e
		s.state.userCodes[uc] = code
		return code, nil
	}
	return "", errors.New("oidctest: no free user code")
}

// newUserCode returns userCodeLength letters of userCodeAlphabet, drawn
// uniformly.
func newUserCode() (string, error) {
	const limit = 256 - 256%len(userCodeAlphabet) // reject bytes past the last whole cycle
	var out strings.Builder
	buf := make([]byte, 32)
	for range 8 {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails
		for _, b := range buf {
			if int(b) < limit && out.Len() < userCodeLength {
				out.WriteByte(userCodeAlphabet[int(b)%len(userCodeAlphabet)])
			}
		}
		if out.Len() == userCodeLength {
			return out.String(), nil
		}
	}
	return "", errors.New("oidctest: cannot draw a user code")
}

// formatUserCode shows a normalized user code as XXXX-XXXX.
func formatUserCode(uc string) string { return uc[:4] + "-" + uc[4:] }

// normalizeUserCode reads a user code as typed: any case, with or without
// the dash.
func normalizeUserCode(in string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(in), "-", ""))
}

// deviceCodeGrant is the device_code grant at the token endpoint (RFC
// 8628 §3.4, §3.5).
func (s *Server) deviceCodeGrant(w http.ResponseWriter, r *http.Request, c Client, jkt string) {
	code := r.PostForm.Get("device_code")
	if code == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "device_code is required")
		return
	}
	now := s.now()
	s.state.mu.Lock()
	e, ok := s.state.devices[code]
	errCode, problem := "invalid_grant", ""
	switch {
	case !ok:
		problem = "unknown device code"
	case e.clientID != c.ID:
		problem = "device code was issued to another client"
	case e.status == deviceUsed:
		problem = "device code was already used"
	case !now.Before(e.expires):
		errCode, problem = "expired_token", "device code expired"
	case e.status == deviceDenied:
		errCode, problem = "access_denied", "the user denied the request"
	case e.status == devicePending:
		errCode, problem = "authorization_pending", "the user has not answered yet"
		if !e.lastPoll.IsZero() && now.Sub(e.lastPoll) < e.interval {
			e.interval += slowDownStep
			errCode, problem = "slow_down", fmt.Sprintf("poll at most every %v", e.interval)
		}
		e.lastPoll = now
	}
	var g grant
	var aud []string
	if problem == "" {
		g = e.grant
		if aud, ok = narrowResources(g.resources, r.PostForm["resource"]); !ok {
			errCode, problem = "invalid_target", "resource was not part of the device authorization request"
		} else {
			e.status = deviceUsed // under the lock: one poll gets the tokens
		}
	}
	s.state.mu.Unlock()
	if problem != "" {
		oauthError(w, http.StatusBadRequest, errCode, problem)
		return
	}
	g.family = randomID()
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, user: true, jkt: jkt})
}

// ApproveDevice approves the device authorization with userCode (in any
// case, with or without the dash) for the user with subject, as the user
// would at the verification page. The device's next poll gets tokens.
// It fails for an unknown subject, an unknown or expired user code, and
// one already approved or denied.
func (s *Server) ApproveDevice(userCode, subject string) error {
	if _, ok := s.user(subject); !ok {
		return fmt.Errorf("oidctest: approve device: unknown subject %q", subject)
	}
	return s.decideDevice(userCode, subject, true)
}

// DenyDevice denies the device authorization with userCode; the device's
// next poll gets access_denied. It fails as ApproveDevice does.
func (s *Server) DenyDevice(userCode string) error {
	return s.decideDevice(userCode, "", false)
}

func (s *Server) decideDevice(userCode, subject string, approve bool) error {
	uc := normalizeUserCode(userCode)
	now := s.now()
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	e := s.state.devices[s.state.userCodes[uc]]
	switch {
	case e == nil:
		return fmt.Errorf("oidctest: unknown user code %q", userCode)
	case !now.Before(e.expires):
		return fmt.Errorf("oidctest: user code %q expired", userCode)
	case e.status != devicePending:
		return fmt.Errorf("oidctest: user code %q was already answered", userCode)
	}
	if !approve {
		e.status = deviceDenied
		return nil
	}
	e.status = deviceApproved
	e.subject, e.authTime = subject, now
	return nil
}
