package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/oidctest"
)

// The API of this example accepts access tokens for its audience from the
// oidctest provider; /admin also needs the admin scope.
func Example() {
	provider := oidctest.NewServer(oidctest.Config{
		Clients: []oidctest.Client{{ID: "reporting", Secret: "s3cret"}},
	})
	defer provider.Close()

	v, err := middleware.New(context.Background(), middleware.Config{
		Issuer:    provider.Issuer,
		Audiences: []string{"https://api.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /me", v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s, scopes %v", c.ClientID(), c.Scopes())
	})))
	mux.Handle("GET /admin", v.RequireScope("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "welcome, admin")
	})))
	api := httptest.NewServer(mux)
	defer api.Close()

	token := clientCredentials(provider, "reporting", "s3cret", "https://api.example.com", "read")
	get(api.URL+"/me", "")
	get(api.URL+"/me", token)
	get(api.URL+"/admin", token)
	// Output:
	// 401 Bearer
	// 200 hello reporting, scopes [read]
	// 403 Bearer error="insufficient_scope", scope="admin", error_description="the access token does not grant access to this resource"
}

// Verify checks a token without HTTP, e.g. for a message queue consumer.
func ExampleValidator_Verify() {
	provider := oidctest.NewServer(oidctest.Config{})
	defer provider.Close()
	v, err := middleware.New(context.Background(), middleware.Config{
		Issuer:    provider.Issuer,
		Audiences: []string{"https://api.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	for _, exp := range []time.Duration{time.Hour, -time.Hour} {
		token, err := provider.Sign(map[string]any{
			"iss": provider.Issuer,
			"aud": "https://api.example.com",
			"sub": "ada",
			"exp": time.Now().Add(exp).Unix(),
		}, oidctest.SignOptions{Type: "at+jwt"})
		if err != nil {
			log.Fatal(err)
		}
		claims, err := v.Verify(context.Background(), token)
		if err != nil {
			fmt.Println("refused, expired:", errors.Is(err, middleware.ErrExpired))
			continue
		}
		fmt.Println("accepted:", claims.Subject())
	}
	// Output:
	// accepted: ada
	// refused, expired: true
}

// clientCredentials gets an access token from the provider's token
// endpoint (RFC 6749 §4.4) for resource (RFC 8707).
func clientCredentials(p *oidctest.Server, id, secret, resource, scope string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}
	return body.AccessToken
}

// get prints the status and either the challenge or the body.
func get(u, token string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		return
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
}
