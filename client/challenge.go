package client

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits of ParseChallenges.
const (
	// MaxChallengeBytes caps the total size of the header values
	// ParseChallenges reads.
	MaxChallengeBytes = 8 << 10
	// MaxChallenges caps the number of challenges in them.
	MaxChallenges = 32
	// MaxChallengeParams caps the number of auth-params of one challenge.
	MaxChallengeParams = 32
)

// ErrMalformedChallenge: a WWW-Authenticate header does not follow RFC
// 9110 §11.6.1, or exceeds the limits of ParseChallenges.
var ErrMalformedChallenge = errors.New("client: malformed WWW-Authenticate challenge")

// Challenge is one authentication challenge of a WWW-Authenticate header
// (RFC 9110 §11.6.1): a scheme with either a token68 or auth-params, or
// neither.
type Challenge struct {
	// Scheme is the auth-scheme as sent, e.g. "DPoP"; schemes are
	// case-insensitive, so compare with strings.EqualFold.
	Scheme string
	// Token68 is the token68 form of the challenge's data, if any; a
	// challenge has a token68 or Params, never both.
	Token68 string
	// Params are the auth-params, by lower-cased name (names are
	// case-insensitive), with quoted-string values unquoted. Nil when
	// there are none.
	Params map[string]string
}

// Param returns the value of the auth-param name (case-insensitive), or
// "" if the challenge has none.
func (c Challenge) Param(name string) string {
	return c.Params[strings.ToLower(name)]
}

// String formats c as a challenge: the scheme, then the token68 or the
// auth-params sorted by name, every value as a quoted-string. It does not
// check c: a Scheme that is not a token, or a value with control
// characters, gives a string ParseChallenges refuses. For a Challenge
// that ParseChallenges returned, ParseChallenges(c.String()) returns c.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteString(" " + c.Token68)
		return b.String()
	}
	names := make([]string, 0, len(c.Params))
	for name := range c.Params {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(name + `="`)
		for _, ch := range []byte(c.Params[name]) {
			if ch == '"' || ch == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(ch)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// ParseChallenges parses the WWW-Authenticate header values of a response
// (resp.Header.Values("WWW-Authenticate")): each value is a comma-separated
// list of challenges, each an auth-scheme followed by a token68 or by
// auth-params whose values are tokens or quoted-strings (with backslash
// escapes). Empty list elements are skipped.
//
// It fails with ErrMalformedChallenge on a syntax error, a repeated
// auth-param, or more than MaxChallengeBytes in all, MaxChallenges
// challenges or MaxChallengeParams auth-params in one challenge. It does
// not interpret schemes or parameters.
func ParseChallenges(values []string) ([]Challenge, error) {
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > MaxChallengeBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedChallenge, total, MaxChallengeBytes)
	}
	var out []Challenge
	for _, v := range values {
		p := challengeParser{s: v, out: out}
		if err := p.parse(); err != nil {
			return nil, fmt.Errorf("%w: %s at byte %d", ErrMalformedChallenge, err, p.i)
		}
		out = p.out
	}
	return out, nil
}

// challengeParser reads one header value. Each step consumes at least one
// byte or fails, so the parse ends within len(s) steps.
type challengeParser struct {
	s   string
	i   int
	out []Challenge
}

func (p *challengeParser) parse() error {
	for {
		p.skipListSeparators()
		if p.i == len(p.s) {
			return nil
		}
		if len(p.out) == MaxChallenges {
			return fmt.Errorf("more than %d challenges", MaxChallenges)
		}
		scheme := p.token()
		if scheme == "" {
			return errors.New("auth-scheme expected")
		}
		c := Challenge{Scheme: scheme}
		spaces := p.skipSpaces()
		if spaces > 0 && !p.atElementEnd() {
			if err := p.challengeData(&c); err != nil {
				return err
			}
		}
		p.out = append(p.out, c)
		if !p.atElementEnd() {
			return errors.New("comma expected")
		}
	}
}

// challengeData reads the token68 or the auth-params after a scheme.
func (p *challengeParser) challengeData(c *Challenge) error {
	if t, ok := p.token68(); ok {
		c.Token68 = t
		return nil
	}
	for {
		if len(c.Params) == MaxChallengeParams {
			return fmt.Errorf("more than %d auth-params", MaxChallengeParams)
		}
		name, value, err := p.authParam()
		if err != nil {
			return err
		}
		name = strings.ToLower(name)
		if _, dup := c.Params[name]; dup {
			return fmt.Errorf("auth-param %q repeated", name)
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params[name] = value
		if !p.nextIsParam() {
			return nil
		}
	}
}

// nextIsParam skips to the next list element when it is another auth-param
// of the same challenge (token BWS "="), and reports whether it is; a
// following challenge, or the end, is left in place.
func (p *challengeParser) nextIsParam() bool {
	start := p.i
	p.skipListSeparators()
	if p.token() != "" {
		p.skipSpaces()
		if p.i < len(p.s) && p.s[p.i] == '=' {
			// Back to the start of the parameter's name.
			p.i = start
			p.skipListSeparators()
			return true
		}
	}
	p.i = start
	return false
}

// authParam reads token BWS "=" BWS ( token / quoted-string ).
func (p *challengeParser) authParam() (name, value string, err error) {
	name = p.token()
	if name == "" {
		return "", "", errors.New("auth-param name expected")
	}
	p.skipSpaces()
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return "", "", errors.New(`"=" expected`)
	}
	p.i++
	p.skipSpaces()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		value, err = p.quotedString()
		return name, value, err
	}
	value = p.token()
	if value == "" {
		return "", "", errors.New("auth-param value expected")
	}
	return name, value, nil
}

// token68 reads a token68 when one stands alone in its list element;
// otherwise it consumes nothing.
func (p *challengeParser) token68() (string, bool) {
	start := p.i
	for p.i < len(p.s) && isToken68Char(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", false
	}
	for p.i < len(p.s) && p.s[p.i] == '=' {
		p.i++
	}
	t := p.s[start:p.i]
	p.skipSpaces()
	if p.atElementEnd() {
		return t, true
	}
	p.i = start
	return "", false
}

// quotedString reads a quoted-string and returns it unquoted.
func (p *challengeParser) quotedString() (string, error) {
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		p.i++
		switch {
		case ch == '"':
			return b.String(), nil
		case ch == '\\':
			if p.i == len(p.s) || !isQuotedPairChar(p.s[p.i]) {
				return "", errors.New("bad quoted-pair")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case isQDText(ch):
			b.WriteByte(ch)
		default:
			return "", fmt.Errorf("byte %#x in quoted-string", ch)
		}
	}
	return "", errors.New("unterminated quoted-string")
}

// token reads a token (RFC 9110 §5.6.2), possibly empty.
func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// skipSpaces skips optional whitespace and returns how much it skipped.
func (p *challengeParser) skipSpaces() int {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	return p.i - start
}

// skipListSeparators skips whitespace and commas, including the empty list
// elements RFC 9110 §5.6.1.2 says recipients accept.
func (p *challengeParser) skipListSeparators() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// atElementEnd reports whether, after optional whitespace, the value ends
// or a comma follows; it consumes the whitespace.
func (p *challengeParser) atElementEnd() bool {
	p.skipSpaces()
	return p.i == len(p.s) || p.s[p.i] == ','
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// isQDText reports whether c may stand unescaped in a quoted-string.
func isQDText(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5b) || (0x5d <= c && c <= 0x7e) || c >= 0x80
}

// isQuotedPairChar reports whether c may follow a backslash.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || (0x20 <= c && c <= 0x7e) || c >= 0x80
}
