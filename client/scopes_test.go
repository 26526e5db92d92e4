package client_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
)

func TestClientCredentialsScopesOption(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = append(got, strings.Join(r.PostForm["scope"], "|")+fmt.Sprint(r.PostForm.Has("scope")))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":60}`)
	}))
	defer srv.Close()
	c, err := client.New(client.Config{ClientID: "svc", ClientSecret: "s", Scopes: []string{"a", "b"}, Endpoint: client.Endpoint{TokenURL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]client.TokenOption{nil, {client.Scopes("c")}, {client.Scopes()}} {
		if _, err := c.ClientCredentials(t.Context(), opts...); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a btrue", "ctrue", "false"}
	if !slices.Equal(got, want) {
		t.Errorf("scope parameters %q, want %q", got, want)
	}
}
