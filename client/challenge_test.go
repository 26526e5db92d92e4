package client_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
)

type challengeParams = map[string]string

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   []client.Challenge
	}{
		{"empty", nil, nil},
		{"only separators", []string{" , ,, "}, nil},
		{"bare scheme", []string{"Bearer"}, []client.Challenge{{Scheme: "Bearer"}}},
		{"DPoP nonce", []string{`DPoP algs="ES256 PS256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			[]client.Challenge{{Scheme: "DPoP", Params: challengeParams{"algs": "ES256 PS256", "error": "use_dpop_nonce", "error_description": "Resource server requires nonce in DPoP proof"}}}},
		{"two challenges in one value", []string{`Bearer realm="api", error="invalid_token", DPoP algs="ES256"`},
			[]client.Challenge{{Scheme: "Bearer", Params: challengeParams{"realm": "api", "error": "invalid_token"}}, {Scheme: "DPoP", Params: challengeParams{"algs": "ES256"}}}},
		{"two values", []string{`Bearer`, `DPoP error=use_dpop_nonce`},
			[]client.Challenge{{Scheme: "Bearer"}, {Scheme: "DPoP", Params: challengeParams{"error": "use_dpop_nonce"}}}},
		{"token values and spaces around =", []string{"Newauth realm = apps ,type=1,\ttitle=\"Login to \\\"apps\\\"\", Basic realm=\"simple\""},
			[]client.Challenge{{Scheme: "Newauth", Params: challengeParams{"realm": "apps", "type": "1", "title": `Login to "apps"`}}, {Scheme: "Basic", Params: challengeParams{"realm": "simple"}}}},
		{"param names are case-insensitive", []string{`dpop ERROR="use_dpop_nonce"`}, []client.Challenge{{Scheme: "dpop", Params: challengeParams{"error": "use_dpop_nonce"}}}},
		{"token68", []string{"Negotiate YIIBzgYGKwYBBQUCoIIBwjCC+/a==, Basic"},
			[]client.Challenge{{Scheme: "Negotiate", Token68: "YIIBzgYGKwYBBQUCoIIBwjCC+/a=="}, {Scheme: "Basic"}}},
		{"token68 that looks like a parameter name", []string{"Scheme abc="}, []client.Challenge{{Scheme: "Scheme", Token68: "abc="}}},
		{"empty quoted value and escapes", []string{`X a="", b="\\\x"`}, []client.Challenge{{Scheme: "X", Params: challengeParams{"a": "", "b": `\x`}}}},
		{"empty elements between params", []string{`X a=1, , b=2,`}, []client.Challenge{{Scheme: "X", Params: challengeParams{"a": "1", "b": "2"}}}},
		{"obs-text in quoted-string", []string{"X a=\"caf\xc3\xa9\""}, []client.Challenge{{Scheme: "X", Params: challengeParams{"a": "caf\xc3\xa9"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := client.ParseChallenges(tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
			checkRoundTrip(t, got)
		})
	}
}

// checkRoundTrip checks that formatting cs and parsing the result gives
// cs again.
func checkRoundTrip(t testing.TB, cs []client.Challenge) {
	t.Helper()
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.String())
	}
	s := strings.Join(parts, ", ")
	if len(s) > client.MaxChallengeBytes {
		return // formatting may grow a value past the limit
	}
	again, err := client.ParseChallenges([]string{s})
	if err != nil {
		t.Fatalf("formatted %q does not parse: %v", s, err)
	}
	if !reflect.DeepEqual(again, cs) {
		t.Fatalf("round trip through %q:\ngot  %#v\nwant %#v", s, again, cs)
	}
}

func TestParseChallengesRefuses(t *testing.T) {
	t.Parallel()
	many := func(n int, elem, sep string) string { return strings.TrimSuffix(strings.Repeat(elem+sep, n), sep) }
	manyParams := func(n int) string {
		var b strings.Builder
		b.WriteString("X ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("p" + strings.Repeat("a", i) + "=1")
		}
		return b.String()
	}
	tests := []struct {
		name   string
		values []string
	}{
		{"unterminated quoted-string", []string{`DPoP error="use_dpop_nonce`}},
		{"control character in quoted-string", []string{"DPoP error=\"a\x01b\""}},
		{"backslash at the end", []string{`DPoP error="a\`}},
		{"control character after a backslash", []string{"DPoP error=\"a\\\x01\""}},
		{"no value before a comma", []string{`DPoP error=, a=b`}},
		{"repeated parameter", []string{`DPoP error="a", ERROR="b"`}},
		{"no scheme", []string{`="x"`}},
		{"quoted scheme", []string{`"DPoP"`}},
		{"no space after scheme", []string{`DPoP=x`}},
		{"token68 then parameter", []string{`X abc, realm=x`}},
		{"garbage after a parameter", []string{`X a=b c`}},
		{"garbage after a quoted value", []string{`X a="b"c`}},
		{"non-token scheme", []string{"Bé"}},
		{"too long", []string{"Bearer realm=\"" + strings.Repeat("a", client.MaxChallengeBytes) + "\""}},
		{"too long in all", []string{strings.Repeat("a", client.MaxChallengeBytes/2), strings.Repeat("a", client.MaxChallengeBytes/2+1)}},
		{"too many challenges", []string{many(client.MaxChallenges+1, "Basic", ", ")}},
		{"too many challenges in all", []string{many(client.MaxChallenges, "Basic", ", "), "Basic"}},
		{"too many parameters", []string{manyParams(client.MaxChallengeParams + 1)}},
		{"bad second value", []string{"Bearer", `DPoP a="`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := client.ParseChallenges(tt.values)
			if !errors.Is(err, client.ErrMalformedChallenge) {
				t.Fatalf("got %#v, %v; want ErrMalformedChallenge", got, err)
			}
		})
	}
	// The limits themselves are allowed.
	ok := [][]string{
		{many(client.MaxChallenges, "Basic", ", ")},
		{manyParams(client.MaxChallengeParams)},
		{strings.Repeat("a", client.MaxChallengeBytes)},
	}
	for _, values := range ok {
		if _, err := client.ParseChallenges(values); err != nil {
			t.Errorf("refused at the limit: %v", err)
		}
	}
}

func TestChallengeParam(t *testing.T) {
	t.Parallel()
	cs, err := client.ParseChallenges([]string{`DPoP Error="use_dpop_nonce"`})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].Param("ERROR") != "use_dpop_nonce" || cs[0].Param("realm") != "" {
		t.Fatalf("Param: %#v", cs[0])
	}
	if s := (client.Challenge{Scheme: "X", Params: challengeParams{"b": `q"\`, "a": "1"}}).String(); s != `X a="1", b="q\"\\"` {
		t.Fatalf("String %s", s)
	}
}
