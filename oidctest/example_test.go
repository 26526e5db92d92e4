package oidctest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyway-go/keyway/oidctest"
)

func ExampleNewServer() {
	srv := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{
			ID: "app", Secret: "s3cret",
			RedirectURIs: []string{"http://127.0.0.1:8080/callback"},
		}},
	})
	defer srv.Close()

	resp, err := srv.Client().Get(srv.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc["issuer"] == srv.Issuer)
	fmt.Println(doc["authorization_response_iss_parameter_supported"])
	fmt.Println(doc["code_challenge_methods_supported"])
	// Output:
	// true
	// true
	// [S256]
}

// ExampleServer_SetFaults makes the token endpoint fail, as a test of a
// client's error handling would.
func ExampleServer_SetFaults() {
	srv := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{ID: "svc", Secret: "s3cret"}},
	})
	defer srv.Close()
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointToken: {Status: http.StatusServiceUnavailable, Body: `{"error":"temporarily_unavailable"}`},
	}})

	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, srv.Issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "s3cret")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	fmt.Println(len(srv.Requests(oidctest.EndpointToken)), "token request")
	// Output:
	// 503
	// 1 token request
}
