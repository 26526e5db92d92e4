package middleware

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The header and the payload of a token are read with readObject, a JSON
// reader made for them, instead of json.Unmarshal into a map[string]any,
// which cost about 6 µs a token, most of Verify's work beyond the
// signature check. readObject decodes nothing: it checks the syntax and
// hands over the name and the JSON text of each member, and parseHeader
// and parseClaims convert the few members they use.
//
// It accepts exactly the texts that json.Unmarshal accepts into a
// map[string]any, so that Claims.Get, which builds that map on demand,
// cannot fail for a token Verify accepted, and it reads them the same way:
//
//   - one JSON object (RFC 8259), with optional whitespace around it, and
//     nothing else (no byte order mark, no trailing text);
//   - strings may hold any byte from 0x20 up, invalid UTF-8 included,
//     which unquote replaces with U+FFFD as encoding/json does;
//   - every number, wherever it is, must fit a float64 (json.Unmarshal
//     into an any fails on 1e400);
//   - nesting has no limit: encoding/json's, 10,000 levels, takes 20,000
//     bytes, more than a token may have (maxTokenBytes).
//
// Member names are unescaped (the name "\u0069ss" is iss) and then
// compared exactly: JOSE and JWT names are case-sensitive, so "ISS" is
// not iss and "Crit" is not crit (RFC 7515 §4, RFC 7519 §4). This is why
// the header and claims are not decoded into structs: encoding/json
// matches struct fields case-insensitively, and would read "ALG" as alg.
// A name given twice is not an error; its readers keep the last member,
// as the map did (RFC 7515 §4 and RFC 7519 §4 allow this, or refusing).

// readObject reads s, a JSON object, calling member with the name and the
// value's JSON text of each of its members, in order. It reports whether
// s is one well-formed JSON object as described above; member may have
// been called for some members of an object it refuses.
func readObject(s string, member func(name, value string)) bool {
	r := jsonReader{s: s}
	r.space()
	if !r.skip('{') {
		return false
	}
	r.space()
	if !r.skip('}') {
		for {
			start := r.i
			if !r.string() {
				return false
			}
			name, ok := unquote(s[start:r.i])
			if !ok || !r.colon() {
				return false
			}
			start = r.i
			if !r.value() {
				return false
			}
			member(name, s[start:r.i])
			r.space()
			if r.skip('}') {
				break
			}
			if !r.skip(',') {
				return false
			}
			r.space()
		}
	}
	r.space()
	return r.i == len(s)
}

// decodeMap returns what json.Unmarshal decodes s, an object readObject
// accepted, into: a map[string]any, made for size members. Scalar members,
// nearly all the members of a token, are converted here, faster; arrays
// and objects are left to encoding/json. It returns nil if s is not such
// an object.
func decodeMap(s string, size int) map[string]any {
	m := make(map[string]any, size)
	failed := false
	ok := readObject(s, func(name, value string) {
		v, err := jsonValue(value)
		m[name] = v
		failed = failed || err != nil
	})
	if !ok || failed {
		return nil
	}
	return m
}

// jsonValue decodes v, the JSON text of a value, as json.Unmarshal does
// into an any.
func jsonValue(v string) (any, error) {
	switch v[0] {
	case '"':
		if s, ok := unquote(v); ok {
			return s, nil
		}
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	case '[', '{':
		var x any
		err := json.Unmarshal([]byte(v), &x)
		return x, err
	default:
		if f, ok := jsonNumber(v); ok {
			return f, nil
		}
	}
	return nil, errors.New("middleware: bad JSON value") // not after readObject
}

// jsonString returns the string value whose JSON text is v, and false if
// v is not a string (or is empty: an absent member).
func jsonString(v string) (string, bool) {
	if v == "" || v[0] != '"' {
		return "", false
	}
	return unquote(v)
}

// jsonNumber returns the number whose JSON text is v, as encoding/json
// decodes it into an any, and false if v is not a number (or is empty).
func jsonNumber(v string) (float64, bool) {
	if v == "" || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// jsonStrings returns the strings of v, the JSON text of an array, and
// false if v is not an array or holds anything but strings. v was checked
// by readObject.
func jsonStrings(v string) ([]string, bool) {
	r := jsonReader{s: v}
	if !r.skip('[') {
		return nil, false
	}
	out := []string{}
	r.space()
	if r.skip(']') {
		return out, true
	}
	for {
		start := r.i
		if !r.string() {
			return nil, false
		}
		s, ok := unquote(v[start:r.i])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		r.space()
		if r.skip(']') {
			return out, true
		}
		if !r.skip(',') {
			return nil, false
		}
		r.space()
	}
}

// unquote returns the string that lit, a JSON string with its quotes and
// of checked syntax, stands for. Plain ASCII text, the usual case, is
// returned as a substring of lit without copying; anything else is
// decoded by encoding/json, which defines the result (escapes, and
// invalid UTF-8 replaced with U+FFFD).
func unquote(lit string) (string, bool) {
	s := lit[1 : len(lit)-1]
	if isPlainASCII(s) {
		return s, true
	}
	var out string
	err := json.Unmarshal([]byte(lit), &out)
	return out, err == nil
}

// isPlainASCII reports whether s is ASCII without backslashes.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// jsonReader checks JSON syntax (RFC 8259) from s[i] on.
type jsonReader struct {
	s string
	i int
}

// space skips whitespace.
func (r *jsonReader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// skip consumes the next byte if it is c, and reports whether it did.
func (r *jsonReader) skip(c byte) bool {
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

// colon reads the colon after a member name, and the whitespace around it.
func (r *jsonReader) colon() bool {
	r.space()
	ok := r.skip(':')
	r.space()
	return ok
}

// value reads one value. Arrays and objects are read without recursion,
// open holding for each container not yet closed whether it is an object,
// so that a deeply nested value costs no stack.
func (r *jsonReader) value() bool {
	var buf [16]bool
	open := buf[:0]
	for {
		// A value starts at r.i.
		switch c := r.peek(); c {
		case '{', '[':
			r.i++
			r.space()
			if r.skip(closer(c == '{')) {
				break // empty: the value ends here
			}
			open = append(open, c == '{')
			if c == '{' && !r.memberName() {
				return false
			}
			continue
		case '"':
			if !r.string() {
				return false
			}
		case 't':
			if !r.literal("true") {
				return false
			}
		case 'f':
			if !r.literal("false") {
				return false
			}
		case 'n':
			if !r.literal("null") {
				return false
			}
		default:
			if !r.number() {
				return false
			}
		}
		// A value ended at r.i: close the containers it ends, up to one
		// that goes on with a comma and the next value.
		for {
			if len(open) == 0 {
				return true
			}
			inObject := open[len(open)-1]
			r.space()
			if r.skip(',') {
				r.space()
				if inObject && !r.memberName() {
					return false
				}
				break
			}
			if !r.skip(closer(inObject)) {
				return false
			}
			open = open[:len(open)-1]
		}
	}
}

// closer is the byte that closes an object or an array.
func closer(object bool) byte {
	if object {
		return '}'
	}
	return ']'
}

// peek returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	if r.i < len(r.s) {
		return r.s[r.i]
	}
	return 0
}

// memberName reads the name of a member inside a value, and its colon.
func (r *jsonReader) memberName() bool {
	return r.string() && r.colon()
}

// string reads a string, quotes included.
func (r *jsonReader) string() bool {
	if !r.skip('"') {
		return false
	}
	// The loop runs over every byte of every string: it keeps the index
	// in a local rather than in r.
	s, i := r.s, r.i
	for i < len(s) {
		c := s[i]
		i++
		switch {
		case c == '"':
			r.i = i
			return true
		case c < 0x20:
			return false
		case c == '\\':
			r.i = i
			if !r.escape() {
				return false
			}
			i = r.i
		}
	}
	return false
}

// escape reads what follows a backslash in a string.
func (r *jsonReader) escape() bool {
	switch r.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		r.i++
		return true
	case 'u':
		r.i++
		if len(r.s)-r.i < 4 {
			return false
		}
		for _, c := range []byte(r.s[r.i : r.i+4]) {
			if !isHexDigit(c) {
				return false
			}
		}
		r.i += 4
		return true
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number reads a number, as RFC 8259 §6 writes it, that fits a float64.
func (r *jsonReader) number() bool {
	start := r.i
	r.skip('-')
	if !r.skip('0') && !r.digits() {
		return false
	}
	integer := r.i - start
	if r.skip('.') && !r.digits() {
		return false
	}
	if r.skip('e') || r.skip('E') {
		if !r.skip('+') {
			r.skip('-')
		}
		if !r.digits() {
			return false
		}
	} else if integer <= 300 {
		// Without an exponent, a number below 10^300 fits a float64
		// (whose largest is about 1.8 × 10^308): no need to parse it.
		return true
	}
	_, err := strconv.ParseFloat(r.s[start:r.i], 64)
	return err == nil
}

// digits reads one digit or more.
func (r *jsonReader) digits() bool {
	start := r.i
	for r.i < len(r.s) && '0' <= r.s[r.i] && r.s[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// literal reads word (true, false or null).
func (r *jsonReader) literal(word string) bool {
	if !strings.HasPrefix(r.s[r.i:], word) {
		return false
	}
	r.i += len(word)
	return true
}
