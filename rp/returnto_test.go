package rp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// returnToAttacks are return_to values that must become "/": the
// oauth2-proxy open-redirect bypasses and more.
var returnToAttacks = []string{
	"",
	"//evil.com",
	"///evil.com",
	"////evil.com",
	`/\evil.com`,
	`\/evil.com`,
	`\\evil.com`,
	`/a\b`,         // browsers read "\" as "/" in http(s) URLs
	`/.\/evil.com`, // ... making this "/.//evil.com"
	"/\t/evil.com",
	"/\n/evil.com",
	"/%09/evil.com",
	"/%2F%2Fevil.com",
	"/%2f/evil.com",
	"/%5Cevil.com",
	"/%5cevil.com",
	"/%5C%5Cevil.com",
	"http://evil.com",
	"HTTP://evil.com",
	"https://evil.com/path",
	"https:evil.com",
	"https:/evil.com",
	"javascript:alert(1)",
	"JaVaScRiPt:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	" /evil",
	"\t/evil",
	"/evil ",
	"/\r\n/evil",
	"/%0d%0a/evil",
	"/%0D%0ALocation:%20https://evil.com",
	"/\x00/evil.com",
	"/%00/evil.com",
	"/\x7f/evil.com",
	"/\u00a0/evil.com",
	"/\u2028/evil.com",
	"/\ufeff/evil.com",
	"/\u0083",          // a C1 control
	"/\u0085/evil.com", // NEXT LINE
	"/\u3000/evil.com", // IDEOGRAPHIC SPACE
	"/%C2%85/evil.com",
	"evil.com",
	".evil.com",
	"evil.com/path",
	"//@evil.com",
	"/ /evil",
	"/%zz",
	"?//evil.com",
	"#//evil.com",
	"/" + strings.Repeat("a", 5000),
}

// returnToLocal are local paths kept as they are.
var returnToLocal = []string{
	"/",
	"/profile",
	"/a/b?x=1#frag",
	"/path%20with%20space",
	"/search?q=%2F%2Fevil.com", // encoded slashes in a query value are data
	"/?next=//evil.com",
	"/caf%C3%A9",
	"/café",
	// U+3002 IDEOGRAPHIC FULL STOP reads as a dot in host names, but after
	// a single "/" it is a path character: the browser stays on this host.
	"/\u3002evil",
	// An encoded space stays encoded: the browser strips nothing.
	"/%20/evil.com",
	// Dot segments resolve under this host; http.Redirect also cleans them.
	"/..//evil.com",
	"/" + strings.Repeat("a", 2000),
}

func TestSafeReturnTo(t *testing.T) {
	t.Parallel()
	for _, in := range returnToAttacks {
		if got := rp.SafeReturnTo(in); got != "/" {
			t.Errorf("SafeReturnTo(%q) = %q, want /", in, got)
		}
	}
	for _, in := range returnToLocal {
		if got := rp.SafeReturnTo(in); got != in {
			t.Errorf("SafeReturnTo(%q) = %q, want it kept", in, got)
		}
	}
}

// TestReturnToEndToEnd logs in with a hostile and a local return_to.
func TestReturnToEndToEnd(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	for _, tt := range []struct{ returnTo, want string }{
		{"//evil.com", "/"},
		{"https://evil.com/x", "/"},
		{"/%5Cevil.com", "/"},
		{"/profile?tab=2", "/profile?tab=2"},
	} {
		if got := a.login(t, newBrowser(t), tt.returnTo); got != tt.want {
			t.Errorf("return_to %q: callback redirects to %q, want %q", tt.returnTo, got, tt.want)
		}
	}
	// Following every redirect, the browser ends on the app's home page.
	b := newBrowser(t)
	resp, err := b.follow.Get(a.app.URL + "/login?return_to=" + url.QueryEscape("//evil.com"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != a.app.URL+"/" {
		t.Fatalf("after login: %d at %s, want the app's /", resp.StatusCode, resp.Request.URL)
	}
}
