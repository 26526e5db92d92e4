package rp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/keyway-go/keyway/client"
)

// revokeTimeout bounds the revocation requests of a logout.
const revokeTimeout = 3 * time.Second

// Logout ends the user's session: POST only, same-origin only (a
// cross-origin POST gets 403, so another site cannot log users out). It
// revokes the session's refresh and access tokens at the provider (RFC
// 7009) when it has a revocation_endpoint, waiting at most 3 seconds and
// logging failures without failing the logout; records the logout of the
// session's sid in Config.Logouts, so that copies of the session's cookies
// are refused too; deletes the session; and redirects (303) to the
// provider's end_session_endpoint with id_token_hint, client_id and
// post_logout_redirect_uri, or to "/" when the provider has none.
func (rp *RP) Logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := sameOrigin.Check(r); err != nil {
		http.Error(w, "cross-origin logout refused", http.StatusForbidden)
		return
	}
	s, d, err := rp.loadSession(r)
	if err != nil {
		// Logging out needs no session: end it as far as can be.
		rp.log.Warn("rp: session unavailable at logout", "err", err)
	}
	ok := d != nil
	if ok {
		rp.revokeTokens(r.Context(), d)
		if d.SID != "" {
			if err := rp.recordLogout(r.Context(), "sid", d.SID); err != nil {
				rp.log.Warn("rp: record logout", "err", err)
			}
		}
	}
	if s != nil {
		if err := deleteSession(w, r, rp.cfg.Sessions, s); err != nil {
			rp.log.Warn("rp: delete session at logout", "err", err)
		}
	}
	if ok {
		rp.cfg.Hooks.loggedOut(r.Context())
	}
	w.Header().Set("Cache-Control", "no-store")
	if rp.meta.EndSessionEndpoint == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u, err := url.Parse(rp.meta.EndSessionEndpoint)
	if err != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	q := u.Query()
	q.Set("client_id", rp.cfg.ClientID)
	if ok && d.IDToken != "" {
		q.Set("id_token_hint", d.IDToken)
	}
	if rp.cfg.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", rp.cfg.PostLogoutRedirectURL)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// revokeTokens revokes d's refresh and access tokens at the provider, if it
// offers revocation, at once and within revokeTimeout. Failures are logged:
// the user is logged out here whatever the provider answers.
func (rp *RP) revokeTokens(ctx context.Context, d *sessionData) {
	if rp.meta.RevocationEndpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range []struct{ token, hint string }{
		{d.RefreshToken, "refresh_token"},
		{d.AccessToken, "access_token"},
	} {
		if t.token == "" {
			continue
		}
		wg.Go(func() {
			err := rp.client.Revoke(ctx, t.token, t.hint)
			var te *client.TokenError
			switch {
			case err == nil:
			case errors.As(err, &te) && te.Code == "unsupported_token_type":
				// Many providers cannot revoke (JWT) access tokens.
				rp.log.Debug("rp: revoke at logout", "token_type", t.hint, "err", err)
			default:
				rp.log.Warn("rp: revoke at logout", "token_type", t.hint, "err", err)
			}
		})
	}
	wg.Wait()
}

// sameOrigin refuses cross-origin unsafe requests, from the Sec-Fetch-Site
// and Origin headers browsers send.
var sameOrigin = http.NewCrossOriginProtection()
