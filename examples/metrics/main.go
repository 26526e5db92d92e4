// Command metrics counts what Keyway does in Prometheus metrics. It starts
// the oidctest provider, a web app that logs its demo user in (rp), an API
// that accepts access tokens (middleware) and /metrics, on ADDR (default
// 127.0.0.1:9090), and prints their URLs and a demo access token. The
// hooks that feed the counters are built by newMetrics.
//
// Routes: GET /login, GET /callback, POST /logout, GET /api/me (needs a
// token), GET /metrics. SIGINT or SIGTERM stop it.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// apiAudience is the audience the API accepts.
const apiAudience = "https://api.example.com"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	if err := run(ctx, addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

// run serves the app, the API and /metrics on addr until ctx is done.
func run(ctx context.Context, addr string, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	provider := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID: "demo", Secret: "demo-secret", RedirectURIs: []string{base + "/callback"},
	}}})
	defer provider.Close()

	reg := prometheus.NewRegistry()
	rpHooks, apiHooks := newMetrics(reg)
	key := make([]byte, 32)
	rand.Read(key)
	sessions, err := session.NewCookieStore([][]byte{key}, session.CookieConfig{})
	if err != nil {
		return err
	}
	txs, err := session.NewCookieStore([][]byte{key}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	party, err := rp.New(ctx, rp.Config{
		Issuer: provider.Issuer, ClientID: "demo", ClientSecret: "demo-secret",
		RedirectURL: base + "/callback", Sessions: sessions, TransactionStore: txs,
		Hooks: rpHooks,
	})
	if err != nil {
		return err
	}
	api, err := middleware.New(ctx, middleware.Config{Issuer: provider.Issuer, Audiences: []string{apiAudience}, Hooks: apiHooks})
	if err != nil {
		return err
	}
	defer api.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", party.Login)
	mux.HandleFunc("GET /callback", party.Callback)
	mux.HandleFunc("POST /logout", party.Logout)
	mux.Handle("GET /api/me", api.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s\n", c.Subject())
	})))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /{$}", party.RequireLogin("/login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := rp.UserFrom(r.Context())
		fmt.Fprintf(w, "logged in as %s; see %s/metrics\n", u.Subject, base)
	})))

	token, err := provider.Sign(map[string]any{
		"iss": provider.Issuer, "aud": apiAudience, "sub": "ada", "client_id": "demo",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}, oidctest.SignOptions{Type: "at+jwt"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "provider: %s\nlog in:   %s/login\napi:      curl -H 'Authorization: Bearer %s' %s/api/me\nmetrics:  %s/metrics\n",
		provider.Issuer, base, token, base, base)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
