package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

// TestBrowserQuickstart signs the demo user in and out of the quickstart
// with a real headless Chromium: the provider's login form, the callback,
// the session cookies, the API call and the RP-initiated logout, as a
// user would click through them.
func TestBrowserQuickstart(t *testing.T) {
	t.Parallel()
	qs := startQuickstart(t)
	wd := startBrowser(t) // after qs: its cleanup runs first, while qs still serves
	app := qs.AppURL
	user := oidctest.DemoUser

	steps := []struct {
		name string
		run  func() error
	}{
		{"wrong password is refused", func() error {
			if err := wd.navigate(app + "/"); err != nil {
				return err
			}
			if err := wd.click("a#login"); err != nil {
				return err
			}
			if err := signIn(wd, user.Username, "not-"+user.Password); err != nil {
				return err
			}
			if _, err := wd.waitText(".problem", "Wrong username or password."); err != nil {
				return err
			}
			if u, err := wd.currentURL(); err != nil || !strings.HasPrefix(u, qs.Provider.URL+"/") {
				return fmt.Errorf("after a wrong password the browser is at %q (%v), want the provider's form", u, err)
			}
			return wantJSON(wd, app+"/me", map[string]any{"error": "login_required"})
		}},
		{"sign in", func() error {
			if err := wd.navigate(app + "/"); err != nil {
				return err
			}
			if err := wd.click("a#login"); err != nil {
				return err
			}
			if err := signIn(wd, user.Username, user.Password); err != nil {
				return err
			}
			if err := wd.waitURL(app + "/profile"); err != nil {
				return err
			}
			_, err := wd.waitText("#name", "Ada Lovelace")
			return err
		}},
		{"me shows the user", func() error {
			return wantJSON(wd, app+"/me", map[string]any{"sub": user.Subject, "iss": qs.Provider.Issuer})
		}},
		{"api calls the API as the user", func() error {
			return wantJSON(wd, app+"/api", map[string]any{"sub": user.Subject, "client_id": "quickstart"})
		}},
		{"sign out", func() error {
			if err := wd.navigate(app + "/"); err != nil {
				return err
			}
			if _, err := wd.waitText("strong#name", "Ada Lovelace"); err != nil {
				return err
			}
			if err := wd.click(`form[action="/logout"] button[type=submit]`); err != nil {
				return err
			}
			// The provider ends its session too, then sends the browser back.
			if err := wd.waitURL(app + "/"); err != nil {
				return err
			}
			if _, err := wd.waitText("a#login", "Sign in"); err != nil {
				return err
			}
			return wantJSON(wd, app+"/me", map[string]any{"error": "login_required"})
		}},
		{"the provider asks for the password again", func() error {
			if err := wd.navigate(app + "/profile"); err != nil {
				return err
			}
			_, err := wd.find("input[name=password]")
			return err
		}},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			if err := s.run(); err != nil {
				t.Fatal(err)
			}
		})
		if !ok {
			return // later steps build on this one
		}
	}
}

// signIn fills in the provider's login form and submits it.
func signIn(wd *webDriver, username, password string) error {
	if err := wd.typeText("input[name=username]", username); err != nil {
		return err
	}
	if err := wd.typeText("input[name=password]", password); err != nil {
		return err
	}
	return wd.click("form button[type=submit]")
}

// wantJSON opens url, which answers JSON, and checks that the members in
// want have these values.
func wantJSON(wd *webDriver, url string, want map[string]any) error {
	if err := wd.navigate(url); err != nil {
		return err
	}
	text, err := wd.text("pre") // Chromium shows a JSON answer in a <pre>
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		return fmt.Errorf("%s: not JSON: %q", url, text)
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("%s: %q is %v, want %v; answer: %s", url, k, got[k], v, text)
		}
	}
	return nil
}
