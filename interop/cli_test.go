package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// These tests run examples/cli, the native app, as a process against
// oidc-provider's public client cli: with -device, approved on the provider's
// pages, and with the loopback redirect, the browser's part played by
// p.login. They read what the program tells its user from its stderr.

func TestCLIExampleDevice(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	prog := startProgram(t, "examples/cli", exampleBinary(t, &cliBuild, "cli"), []string{"-device"}, map[string]string{
		"OIDC_ISSUER":    p.Issuer,
		"OIDC_CLIENT_ID": "cli",
		"OIDC_SCOPES":    "openid offline_access",
	})
	m := prog.awaitStderr(t, regexp.MustCompile(`(?m)^or open (\S+)$`), 15*time.Second)
	p.approveDevice(t, m[1], "ada")
	if err := prog.wait(t, 30*time.Second); err != nil {
		t.Fatalf("examples/cli -device exited with %v", err)
	}
	// The device grant keeps offline_access without prompt=consent (see
	// TestDeviceGrant): a refresh token comes with the tokens.
	want := regexp.MustCompile(`^logged in: Bearer token, scope "openid offline_access", expires \S+, refresh token: true$`)
	if lines := prog.lines(); len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Errorf("stdout = %q, want one line matching %s", lines, want)
	}
}

func TestCLIExampleLoopback(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.start(t, p)
	prog := startProgram(t, "examples/cli", exampleBinary(t, &cliBuild, "cli"), []string{"-browser=false"}, map[string]string{
		"OIDC_ISSUER":    p.Issuer,
		"OIDC_CLIENT_ID": "cli",
		"OIDC_RESOURCE":  api.Audience,
		"API_URL":        api.URL,
	})
	m := prog.awaitStderr(t, regexp.MustCompile(`Open this URL in your browser to log in:\s+(\S+)`), 15*time.Second)
	callback := p.login(t, nil, m[1], "ada")
	if callback.Scheme != "http" || callback.Hostname() != "127.0.0.1" || callback.Path != "/callback" || callback.Port() == "" {
		t.Fatalf("the provider redirected to %s, want the program's loopback callback", callback.Redacted())
	}
	status, page := getPage(t, callback.String())
	if status != http.StatusOK {
		t.Errorf("GET the loopback callback: status %d: %s", status, pageText(page))
	}
	if err := prog.wait(t, 30*time.Second); err != nil {
		t.Fatalf("examples/cli exited with %v", err)
	}

	// Without prompt=consent, oidc-provider drops offline_access from an
	// authorization request: no refresh token. The resource makes the access
	// token a JWT for the API, whose scope holds none of the OIDC scopes, so
	// the token response's scope is empty.
	loggedIn := regexp.MustCompile(`^logged in: Bearer token, scope "", expires \S+, refresh token: false$`)
	apiLine := regexp.MustCompile(`^GET ` + regexp.QuoteMeta(api.URL+"/me") + `: 200 (\{.*\})$`)
	lines := prog.lines()
	if len(lines) != 2 || !loggedIn.MatchString(lines[0]) {
		t.Fatalf("stdout = %q, want a line matching %s, then the API's answer", lines, loggedIn)
	}
	var me apiMe
	if m := apiLine.FindStringSubmatch(lines[1]); m == nil || json.Unmarshal([]byte(m[1]), &me) != nil || me.Sub != "ada" || me.ClientID != "cli" {
		t.Errorf("second line %q, want GET %s/me: 200 with sub ada, client_id cli", lines[1], api.URL)
	}
}

// getPage GETs target, a page served to the browser, and returns the status
// and body.
func getPage(t testing.TB, target string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirects(nil).Do(req)
	if err != nil {
		t.Fatalf("interop: GET %s: %v", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		t.Fatalf("interop: GET %s: %v", req.URL.Redacted(), err)
	}
	return resp.StatusCode, body
}
