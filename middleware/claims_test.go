package middleware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestClaimNames: claim names are case-sensitive and unescaped, and a
// name given twice counts with its last value, as when the payload was
// decoded into a map by encoding/json; Get agrees with the accessors.
func TestClaimNames(t *testing.T) {
	t.Parallel()
	f := newRawFixture(t)
	iss, aud := `"`+f.iss.URL+`"`, `"`+testAudience+`"`
	exp := f.goodClaims()[strings.LastIndex(f.goodClaims(), `"exp":`):]
	tests := []struct {
		name      string
		acceptJWT bool
		claims    string // the payload's members
		want      error
		check     func(t *testing.T, c *Claims)
	}{
		{name: "valid", claims: f.goodClaims()},
		{name: "ISS is not iss", claims: `"ISS":` + iss + `,"aud":` + aud + `,` + exp, want: ErrInvalidIssuer},
		{name: "Iss is not iss", claims: `"Iss":` + iss + `,"aud":` + aud + `,` + exp, want: ErrInvalidIssuer},
		{name: "escaped iss", claims: `"\u0069ss":` + iss + `,"aud":` + aud + `,` + exp},
		{name: "ISS beside a wrong iss", claims: f.goodClaims() + `,"iss":"https://evil.example.com","ISS":` + iss, want: ErrInvalidIssuer},
		{name: "iss twice, last good", claims: `"iss":"https://evil.example.com",` + f.goodClaims(), check: func(t *testing.T, c *Claims) {
			if v, _ := c.Get("iss"); c.Issuer() != f.iss.URL || v != f.iss.URL {
				t.Errorf("Issuer %q, Get(iss) %v", c.Issuer(), v)
			}
		}},
		{name: "iss twice, last wrong", claims: f.goodClaims() + `,"iss":"https://evil.example.com"`, want: ErrInvalidIssuer},
		{name: "iss twice, first not a string", claims: `"iss":5,` + f.goodClaims()},
		{name: "iss twice, last not a string", claims: f.goodClaims() + `,"iss":5`, want: ErrInvalidClaims},
		{name: "EXP is not exp", claims: `"iss":` + iss + `,"aud":` + aud + `,"EXP":4102444800`, want: ErrInvalidClaims},
		{name: "exp twice, last past", claims: f.goodClaims() + `,"exp":1`, want: ErrExpired},
		{name: "exp out of range", claims: `"iss":` + iss + `,"aud":` + aud + `,"exp":1e400`, want: ErrMalformed},
		{name: "AUD is not aud", claims: `"iss":` + iss + `,"AUD":` + aud + `,` + exp, want: ErrInvalidAudience},
		{name: "aud twice, last other", claims: f.goodClaims() + `,"aud":["x"]`, want: ErrInvalidAudience},
		{name: "Scope is not scope", claims: f.goodClaims() + `,"scope":"read","Scope":"admin"`, check: func(t *testing.T, c *Claims) {
			if !c.HasScope("read") || c.HasScope("admin") {
				t.Errorf("scopes %q", c.Scopes())
			}
		}},
		{name: "scope twice", claims: f.goodClaims() + `,"scope":"admin","scope":"read"`, check: func(t *testing.T, c *Claims) {
			if v, _ := c.Get("scope"); !c.HasScope("read") || c.HasScope("admin") || v != "read" {
				t.Errorf("scopes %q, Get(scope) %v", c.Scopes(), v)
			}
		}},
		{name: "escaped scope", claims: f.goodClaims() + `,"sc\u006fpe":"a\u0020b"`, check: func(t *testing.T, c *Claims) {
			if !c.HasScope("a") || !c.HasScope("b") {
				t.Errorf("scopes %q", c.Scopes())
			}
		}},
		{name: "Cnf is not cnf", claims: f.goodClaims() + `,"Cnf":{"jkt":"x"}`},
		{name: "cnf null", claims: f.goodClaims() + `,"cnf":null`, want: ErrSenderConstrained},
		{name: "escaped cnf", claims: f.goodClaims() + `,"\u0063nf":{"jkt":"x"}`, want: ErrSenderConstrained},
		{name: "Nonce is not nonce", acceptJWT: true, claims: f.goodClaims() + `,"Nonce":"n"`},
		{name: "nonce", acceptJWT: true, claims: f.goodClaims() + `,"nonce":"n"`, want: ErrInvalidType},
		{name: "escaped s_hash", acceptJWT: true, claims: f.goodClaims() + `,"s_h\u0061sh":"x"`, want: ErrInvalidType},
		{name: "AZP is not azp", acceptJWT: true, claims: f.goodClaims() + `,"AZP":` + aud},
		{name: "azp is an audience", acceptJWT: true, claims: f.goodClaims() + `,"azp":` + aud, want: ErrInvalidType},
		{name: "client_id and azp of another type", claims: f.goodClaims() + `,"client_id":"app","azp":5`, check: func(t *testing.T, c *Claims) {
			if c.ClientID() != "app" {
				t.Errorf("ClientID %q", c.ClientID())
			}
		}},
		{name: "azp not a string without client_id", claims: f.goodClaims() + `,"azp":5`, want: ErrInvalidClaims},
		{name: "custom number out of range", claims: f.goodClaims() + `,"x":[1,-1e400]`, want: ErrMalformed},
		{name: "custom number in range", claims: f.goodClaims() + `,"x":[1e308,-1e-400,` + strings.Repeat("9", 300) + `]`},
		{name: "deep custom claim", claims: f.goodClaims() + `,"x":` + strings.Repeat("[", 3000) + strings.Repeat("]", 3000)},
		{name: "invalid UTF-8 in a claim", claims: f.goodClaims() + `,"sub":"a` + "\xff" + `b"`, check: func(t *testing.T, c *Claims) {
			if v, _ := c.Get("sub"); c.Subject() != "a\ufffdb" || v != c.Subject() {
				t.Errorf("Subject %q, Get(sub) %q", c.Subject(), v)
			}
		}},
		{name: "trailing comma", claims: f.goodClaims() + `,`, want: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := f.strict
			typ := "at+jwt"
			if tc.acceptJWT {
				v, typ = f.lenient, "JWT"
			}
			tok := f.sign(t, `{"alg":"RS256","typ":"`+typ+`","kid":"k1"}`, `{`+tc.claims+`}`)
			c, err := v.Verify(context.Background(), tok)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Verify: %v, want accepted", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			case tc.want != nil && c != nil:
				t.Fatal("refused with claims")
			}
			if tc.check != nil && c != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestClaimsGetMatchesEncodingJSON: Get returns what json.Unmarshal of
// the payload into a map[string]any holds, and Decode works on the same
// payload, for claims of every JSON type.
func TestClaimsGetMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	f := newRawFixture(t)
	payload := `{` + f.goodClaims() + `,"sub":"caf\u00e9","n":-1.5e-3,"big":12345678901234567,"t":true,"f":false,"z":null,` +
		`"list":[1,"a",[true],{"b":null}],"obj":{"nested":{"k":"v"},"x":[]},"esc":"\"\\\/\n","uni":"😀",` +
		`"dup":1,"dup":2,"DUP":3}`
	tok := f.sign(t, `{`+goodHeader+`}`, payload)
	c, err := f.strict.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(payload), &want); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if got, ok := c.Get(name); !ok || !reflect.DeepEqual(got, w) {
			t.Errorf("Get(%q) = %#v, %v; want %#v", name, got, ok, w)
		}
	}
	if got, ok := c.Get("Sub"); ok {
		t.Errorf("Get(Sub) = %v", got)
	}
	var decoded map[string]any
	if err := c.Decode(&decoded); err != nil || !reflect.DeepEqual(decoded, want) {
		t.Errorf("Decode: %v, %v", err, decoded)
	}
}

// TestClaimsGetConcurrent: the claims map is built once, on the first
// Get, whichever goroutine makes it; run with -race.
func TestClaimsGetConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.token(t, func(c map[string]any) { c["org"] = map[string]any{"id": "o-1"} })
	c1, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := f.v.Verify(context.Background(), tok) // from the cache
	if err != nil || c2 != c1 {
		t.Fatalf("second Verify: %v, same claims %v", err, c2 == c1)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, name := range []string{"org", "scope", "sub", "missing"} {
				v, ok := c1.Get(name)
				if ok != (name != "missing") || (name == "sub" && v != "ada") {
					t.Errorf("Get(%q) = %v, %v", name, v, ok)
				}
			}
			var custom struct {
				Org struct{ ID string } `json:"org"`
			}
			if err := c1.Decode(&custom); err != nil || custom.Org.ID != "o-1" {
				t.Errorf("Decode: %v, %+v", err, custom)
			}
		})
	}
	wg.Wait()
}

// TestVerifyPayloadShapes: what decodes the payload refuses what
// json.Unmarshal into a map refused.
func TestVerifyPayloadShapes(t *testing.T) {
	t.Parallel()
	f := newRawFixture(t)
	e := base64.RawURLEncoding
	for _, payload := range []string{`null`, `[]`, `"x"`, `{}x`, `{"a":1}{}`, "\xef\xbb\xbf{}", `{"a":01}`} {
		tok := f.sign(t, `{`+goodHeader+`}`, payload)
		if _, err := f.strict.Verify(context.Background(), tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("payload %q (%s): %v, want ErrMalformed", payload, e.EncodeToString([]byte(payload)), err)
		}
	}
}
