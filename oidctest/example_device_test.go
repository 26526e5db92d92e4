package oidctest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// postJSON posts form to u and decodes the JSON answer.
func postJSON(c *http.Client, u string, form url.Values) (int, map[string]any, error) {
	resp, err := c.Post(u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	err = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, err
}

// ExampleServer_ApproveDevice runs the device authorization grant: the
// device gets a user code, the test approves it as the user would at the
// verification page, and the device's next poll gets tokens.
func ExampleServer_ApproveDevice() {
	srv := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{ID: "tv"}}, // a public client
		// Polls are compared on real time: a short interval keeps the
		// example fast (the response still says 1 second).
		DeviceInterval: 10 * time.Millisecond,
	})
	defer srv.Close()

	_, device, err := postJSON(srv.Client(), srv.Issuer+"/device_authorization",
		url.Values{"client_id": {"tv"}, "scope": {"openid offline_access"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(device["verification_uri"] == srv.Issuer+"/device", device["interval"])
	poll := url.Values{
		"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {device["device_code"].(string)},
		"client_id":   {"tv"},
	}
	_, pending, _ := postJSON(srv.Client(), srv.Issuer+"/token", poll)
	fmt.Println(pending["error"])

	if err := srv.ApproveDevice(device["user_code"].(string), oidctest.DemoUser.Subject); err != nil {
		fmt.Println(err)
		return
	}
	time.Sleep(20 * time.Millisecond) // the polling interval
	status, tokens, err := postJSON(srv.Client(), srv.Issuer+"/token", poll)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(status, tokens["token_type"], tokens["id_token"] != nil, tokens["refresh_token"] != nil)
	// Output:
	// true 1
	// authorization_pending
	// 200 Bearer true true
}
