package client_test

import (
	"testing"

	"github.com/keyway-go/keyway/client"
)

// FuzzParseChallenges feeds arbitrary WWW-Authenticate values to
// ParseChallenges: it must not panic, must stay within its limits, and
// what it accepts must survive formatting and parsing again unchanged.
func FuzzParseChallenges(f *testing.F) {
	f.Add(`DPoP algs="ES256 PS256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	f.Add(`Bearer realm="api", error="invalid_token", DPoP algs="ES256"`)
	f.Add(`Negotiate YIIBzgYGKwYBBQUCoIIBwjCC+/a==, Basic realm="x"`)
	f.Add(`Newauth realm = apps ,type=1, title="Login to \"apps\""`)
	f.Fuzz(func(t *testing.T, value string) {
		cs, err := client.ParseChallenges([]string{value})
		if err != nil {
			return
		}
		if len(cs) > client.MaxChallenges {
			t.Fatalf("%d challenges", len(cs))
		}
		for _, c := range cs {
			if c.Scheme == "" || len(c.Params) > client.MaxChallengeParams || (c.Token68 != "" && c.Params != nil) {
				t.Fatalf("challenge %#v", c)
			}
		}
		checkRoundTrip(t, cs)
	})
}
