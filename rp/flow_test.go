package rp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

func TestLoginFlow(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	status, body := a.get(t, "/me")
	if status != http.StatusOK || !strings.Contains(body, `"sub":"ada"`) || !strings.Contains(body, "Ada Lovelace") {
		t.Fatalf("after login: %d %s", status, body)
	}
	if n := a.count(oidctest.EndpointToken); n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
	// A second request reuses the session: no new login.
	if status, _ := a.get(t, "/me"); status != http.StatusOK || a.count(oidctest.EndpointAuthorize) != 1 {
		t.Fatalf("second request: %d, authorize requests %d", status, a.count(oidctest.EndpointAuthorize))
	}
	// Logout ends the session and goes through the provider.
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	do(t, a.browser.follow, req)
	es := a.op.Requests(oidctest.EndpointEndSession)
	if len(es) != 1 || es[0].Form.Get("id_token_hint") == "" || es[0].Form.Get("post_logout_redirect_uri") != a.app.URL+"/" {
		t.Fatalf("end_session requests: %+v", es)
	}
	a.requireNoSession(t, a.browser)
}
