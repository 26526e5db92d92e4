package middleware

import (
	"net/http"
	"strings"
)

// maxURLBytes caps a URL normalizeHTU reads: the htu of a proof, or the
// request URL (whose path net/http already bounds by its header limit).
const maxURLBytes = 8 << 10

// requestURL is the URL a proof's htu must match: Config.DPoP.URL's
// answer, or the scheme of the connection, r.Host and the escaped path.
func (d *dpopPolicy) requestURL(r *http.Request) string {
	if d.url != nil {
		return d.url(r)
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host + r.URL.EscapedPath()
}

// normalizeHTU returns the form of the absolute http(s) URL s that two
// spellings of one URL share, as RFC 9449 §4.3 asks before comparing htu
// with the request URL: the query and fragment are dropped; the scheme
// and host are lowercased and the scheme's default port dropped (RFC 3986
// §6.2.3, as is an empty path becoming "/"); percent-encoding is
// normalised, decoding unreserved characters and writing the rest in
// upper case (§6.2.2.1, §6.2.2.2); dot segments are removed (§6.2.2.3).
// It reports false for a URL that is not absolute, has user info, has a
// malformed percent-encoding or a byte no URI may hold, or is longer than
// maxURLBytes; such a URL matches nothing.
func normalizeHTU(s string) (string, bool) {
	if len(s) > maxURLBytes {
		return "", false
	}
	sep := strings.Index(s, "://")
	if sep <= 0 || !isScheme(s[:sep]) {
		return "", false
	}
	scheme, rest := strings.ToLower(s[:sep]), s[sep+3:]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	host, port := splitPort(authority)
	if host == "" || strings.IndexByte(authority, '@') >= 0 || !isDigits(port) {
		return "", false
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	b := make([]byte, 0, len(s)+1)
	b = append(append(b, scheme...), "://"...)
	b, ok := appendPercentNormalized(b, host, true)
	if !ok {
		return "", false
	}
	if port != "" {
		b = append(append(b, ':'), port...)
	}
	start := len(b)
	if b, ok = appendPercentNormalized(b, path, false); !ok {
		return "", false
	}
	out := string(b)
	p := out[start:]
	if p == "" {
		return out + "/", true
	}
	if strings.Contains(p, "/.") {
		return out[:start] + removeDotSegments(p), true
	}
	return out, true
}

// isScheme reports whether s is an RFC 3986 scheme: a letter, then
// letters, digits, "+", "-" or ".".
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case for letters
		if !('a' <= c && c <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitPort splits authority into host and port (without the colon; ""
// when absent or empty). An IPv6 literal keeps its brackets and colons.
func splitPort(authority string) (host, port string) {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 || strings.IndexByte(authority[i:], ']') >= 0 {
		return authority, ""
	}
	return authority[:i], authority[i+1:]
}

// isUnreserved marks the unreserved characters of RFC 3986 §2.3, which
// are equivalent to their percent-encodings.
var isUnreserved = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~" {
		t[c] = true
	}
	return t
}()

// isURIByte marks the bytes a URI may hold: the unreserved and reserved
// characters, and "%" (RFC 3986 §2).
var isURIByte = func() (t [256]bool) {
	for _, c := range ":/?#[]@!$&'()*+,;=%" {
		t[c] = true
	}
	for c := range isUnreserved {
		t[c] = t[c] || isUnreserved[c]
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

// appendPercentNormalized appends s to b with its percent-encoding
// normalised: a triplet of an unreserved character becomes that
// character, any other triplet is written in upper case. With lower,
// letters are lowercased (a host). It reports false for a malformed
// triplet or a byte a URI may not hold.
func appendPercentNormalized(b []byte, s string, lower bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isURIByte[c] {
			return nil, false
		}
		if c == '%' {
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return nil, false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
			if !isUnreserved[c] {
				b = append(b, '%', upperHex[c>>4], upperHex[c&15])
				continue
			}
		}
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b, true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// removeDotSegments applies RFC 3986 §5.2.4 to p, an absolute path: "."
// segments go, ".." segments remove the segment before, and a path ending
// in either ends with "/".
func removeDotSegments(p string) string {
	segments := strings.Split(p[1:], "/")
	out := segments[:0]
	for i, s := range segments {
		last := i == len(segments)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}
