package oidctest

import "testing"

func TestRegisteredRedirect(t *testing.T) {
	t.Parallel()
	registered := []string{"http://127.0.0.1/callback", "http://[::1]/cb", "https://app.example/cb", "http://localhost/cb", "http://127.0.0.1:8080/fixed"}
	tests := []struct {
		uri  string
		want bool
	}{
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:49152/callback", true},
		{"http://[::1]:5000/cb", true},
		{"http://127.0.0.1:8080/fixed", true},
		{"http://127.0.0.1:8081/fixed", false}, // registered with a port: exact
		{"http://127.0.0.1:49152/other", false},
		{"http://127.0.0.1:49152/callback?x=1", false},
		{"http://localhost:49152/cb", false}, // RFC 8252 §8.3: IP literals only
		{"https://app.example:444/cb", false},
		{"http://127.0.0.2:49152/callback", false},
		{"https://127.0.0.1:49152/callback", false},
	}
	for _, tc := range tests {
		if got := registeredRedirect(registered, tc.uri); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.uri, got, tc.want)
		}
	}
}
