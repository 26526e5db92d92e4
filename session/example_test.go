package session_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyway-go/keyway/session"
)

func Example() {
	secret := []byte("an example secret, use 32+ random bytes")
	store, err := session.NewCookieStore([][]byte{secret}, session.CookieConfig{Secure: true})
	if err != nil {
		log.Fatal(err)
	}

	// The first request stores tokens in a new session.
	r := httptest.NewRequest(http.MethodGet, "https://app.example/callback", nil)
	w := httptest.NewRecorder()
	sess, _ := store.Get(r, "app")
	sess.Values["refresh_token"] = strings.Repeat("r", 5000) // too big for one cookie
	if err := sess.Save(r, w); err != nil {
		log.Fatal(err)
	}

	// The browser sends the cookies back with the next request.
	next := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	for _, c := range w.Result().Cookies() {
		fmt.Println(c.Name, c.HttpOnly, c.Secure)
		next.AddCookie(c)
	}
	sess, err = store.Get(next, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sess.IsNew, len(sess.Values["refresh_token"].(string)))
	// Output:
	// __Host-app true true
	// __Host-app.1 true true
	// false 5000
}
