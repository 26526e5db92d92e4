package rp

import (
	"net/url"
	"strings"
	"unicode"
)

// maxReturnTo caps the length of a return_to path.
const maxReturnTo = 2048

// SafeReturnTo returns target if it is a local path on this site, and "/"
// otherwise. A local path starts with a single "/", has no scheme, host or
// user info, no backslash (browsers read "/\evil" as "//evil"), and no
// control or whitespace characters (which browsers strip, turning
// "/\t/evil" into "//evil"). Percent-encoded variants are decoded once and
// checked the same way.
func SafeReturnTo(target string) string {
	if isLocalPath(target) {
		return target
	}
	return "/"
}

func isLocalPath(p string) bool {
	if p == "" || len(p) > maxReturnTo || !localShape(p, false) {
		return false
	}
	// Reject encodings that turn into a non-local path once decoded, e.g.
	// "/%2F%2Fevil" or "/%5Cevil", in case something downstream decodes.
	if dec, err := url.PathUnescape(p); err != nil || !localShape(dec, true) {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// localShape checks the characters and the start of a path. A decoded
// path may hold spaces: sent as "%20", they are nothing a browser strips.
func localShape(p string, decoded bool) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	if strings.ContainsRune(p, '\\') {
		return false
	}
	for _, r := range p {
		if r == ' ' && decoded {
			continue
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\ufeff' {
			return false
		}
	}
	return true
}
