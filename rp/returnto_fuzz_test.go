package rp_test

import (
	"net/url"
	"testing"
	"unicode"

	"github.com/keyway-go/keyway/rp"
)

// FuzzSafeReturnTo checks SafeReturnTo's invariant: the result is the input
// or "/", it starts with "/" and then neither "/" nor "\", it has no control
// characters, it names no scheme, host or user once parsed, and decoding it
// once does not change any of that.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range returnToAttacks {
		f.Add(s)
	}
	for _, s := range returnToLocal {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := rp.SafeReturnTo(in)
		if out != "/" && out != in {
			t.Fatalf("SafeReturnTo(%q) = %q: neither the input nor /", in, out)
		}
		checkLocal(t, in, out)
		if dec, err := url.PathUnescape(out); err != nil {
			t.Fatalf("SafeReturnTo(%q) = %q, which does not decode: %v", in, out, err)
		} else {
			checkLocal(t, in, dec)
		}
	})
}

func checkLocal(t testing.TB, in, p string) {
	t.Helper()
	if p == "" || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		t.Fatalf("SafeReturnTo(%q) gives %q, not a local path", in, p)
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\\' {
			t.Fatalf("SafeReturnTo(%q) gives %q, with %U", in, p, r)
		}
	}
	u, err := url.Parse(p)
	if err != nil {
		return // not a URL to anyone; the raw form was checked
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		t.Fatalf("SafeReturnTo(%q) gives %q, which parses as %#v", in, p, u)
	}
}
