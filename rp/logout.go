package rp

import (
	"net/http"
	"net/url"
)

// Logout ends the user's session: POST only, same-origin only (a
// cross-origin POST gets 403, so another site cannot log users out). It
// deletes the session and redirects (303) to the provider's
// end_session_endpoint with id_token_hint, client_id and
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
	s, d, ok := rp.loadSession(r)
	if s != nil {
		if err := deleteSession(w, r, rp.cfg.Sessions, s); err != nil {
			rp.log.Warn("rp: delete session at logout", "err", err)
		}
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

// sameOrigin refuses cross-origin unsafe requests, from the Sec-Fetch-Site
// and Origin headers browsers send.
var sameOrigin = http.NewCrossOriginProtection()
