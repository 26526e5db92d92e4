package rp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/keyway-go/keyway/client"
)

// transactionTTL is how long a login may take at the provider.
const transactionTTL = 10 * time.Minute

// txPrefix starts the name of every transaction cookie; the rest is a hash
// of the state, so the callback finds its transaction by state and several
// logins (tabs) can run at once.
const txPrefix = "kwtx-"

// transaction is a login in progress, sealed into its own cookie.
type transaction struct {
	State, Nonce, Verifier string
	Issuer                 string
	RedirectURL            string
	ReturnTo               string
	Expires                int64
}

func txName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return txPrefix + hex.EncodeToString(sum[:8])
}

// saveTransaction stores t in a new cookie, first expiring the oldest
// transaction cookies so at most MaxTransactions remain.
func (rp *RP) saveTransaction(w http.ResponseWriter, r *http.Request, t transaction) error {
	rp.pruneTransactions(w, r)
	s, err := rp.cfg.TransactionStore.New(r, txName(t.State))
	if err != nil && s == nil {
		return err
	}
	clear(s.Values)
	s.Values["tx"] = []string{t.State, t.Nonce, t.Verifier, t.Issuer, t.RedirectURL, t.ReturnTo}
	s.Values["exp"] = t.Expires
	if err := s.Save(r, w); err != nil {
		return fmt.Errorf("rp: save login transaction: %w", err)
	}
	return nil
}

// pruneTransactions expires the oldest transaction cookies beyond the cap.
// Browsers send older cookies first (RFC 6265 §5.4), so the first ones go.
func (rp *RP) pruneTransactions(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, c := range r.Cookies() {
		name := strings.TrimPrefix(strings.TrimPrefix(c.Name, "__Host-"), "__Secure-")
		if strings.HasPrefix(name, txPrefix) && len(name) == len(txPrefix)+16 {
			names = append(names, name)
		}
	}
	for len(names) >= rp.cfg.MaxTransactions {
		rp.endTransaction(w, r, names[0])
		names = names[1:]
	}
}

// takeTransaction returns the transaction for state and deletes its cookie:
// a transaction is used at most once, whatever happens next.
func (rp *RP) takeTransaction(w http.ResponseWriter, r *http.Request, state string) (transaction, error) {
	if state == "" || len(state) > 512 {
		return transaction{}, fmt.Errorf("%w: missing or oversized state", ErrStateMismatch)
	}
	name := txName(state)
	s, err := rp.cfg.TransactionStore.Get(r, name)
	if err != nil || s.IsNew {
		return transaction{}, fmt.Errorf("%w: no login in progress for this state (expired, used, or started in another browser)", ErrStateMismatch)
	}
	f, _ := s.Values["tx"].([]string)
	exp, _ := s.Values["exp"].(int64)
	rp.endTransaction(w, r, name)
	if len(f) != 6 {
		return transaction{}, errors.New("rp: malformed login transaction")
	}
	t := transaction{State: f[0], Nonce: f[1], Verifier: f[2], Issuer: f[3], RedirectURL: f[4], ReturnTo: f[5], Expires: exp}
	if t.State != state {
		return transaction{}, ErrStateMismatch
	}
	if !rp.cfg.Now().Before(time.Unix(t.Expires, 0)) {
		return transaction{}, fmt.Errorf("%w: the login took too long; start again", ErrStateMismatch)
	}
	// The cookie is deleted above, but a copy of it (stolen, or a form
	// submitted twice) would still work: the state is spent in the replay
	// cache too, so a replay never takes the code to the token endpoint,
	// where a provider would revoke the grant the first use got.
	replayed, err := rp.cfg.ReplayCache.Seen(r.Context(), "state:"+hashKey("state", t.Issuer, t.State), time.Unix(t.Expires, 0))
	switch {
	case err != nil:
		return transaction{}, fmt.Errorf("%w: replay cache: %w", ErrSessionUnavailable, err)
	case replayed:
		return transaction{}, fmt.Errorf("%w: this login was completed already (a replayed callback)", ErrStateMismatch)
	}
	return t, nil
}

func (rp *RP) endTransaction(w http.ResponseWriter, r *http.Request, name string) {
	s, _ := rp.cfg.TransactionStore.Get(r, name)
	if s == nil {
		s = sessions.NewSession(rp.cfg.TransactionStore, name)
	}
	if err := deleteSession(w, r, rp.cfg.TransactionStore, s); err != nil {
		rp.log.Warn("rp: delete login transaction", "err", err)
	}
}

func (t transaction) authRequest() *client.AuthRequest {
	return &client.AuthRequest{
		State:       t.State,
		Nonce:       t.Nonce,
		Verifier:    t.Verifier,
		Issuer:      t.Issuer,
		RedirectURL: t.RedirectURL,
	}
}

// deleter is a store that can delete a session itself.
type deleter interface {
	Delete(r *http.Request, w http.ResponseWriter, s *sessions.Session) error
}

// deleteSession ends s in store.
func deleteSession(w http.ResponseWriter, r *http.Request, store sessions.Store, s *sessions.Session) error {
	if d, ok := store.(deleter); ok {
		return d.Delete(r, w, s)
	}
	if s.Options == nil {
		s.Options = &sessions.Options{}
	}
	s.Options.MaxAge = -1
	clear(s.Values)
	return store.Save(r, w, s)
}
