// Command webapp is a web app with OpenID Connect login.
//
//	OIDC_ISSUER=https://id.example.com OIDC_CLIENT_ID=app OIDC_CLIENT_SECRET=… go run ./examples/webapp
//
// Settings (environment): OIDC_ISSUER (required), OIDC_CLIENT_ID,
// OIDC_CLIENT_SECRET (empty: public client), OIDC_SCOPES (default "openid
// profile email offline_access"), OIDC_RESOURCE, APP_URL (default
// http://127.0.0.1:8080; the redirect URI is APP_URL/callback and the
// post-logout URI APP_URL/), ADDR (default: APP_URL's host:port),
// SESSION_STORE (cookie), SESSION_SECRET (32+ bytes, hex or base64), and
// API_URL (an API whose /me the /api route calls as the user).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyway-go/keyway/examples/internal/webapp"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := webapp.FromEnv(log)
	if err != nil {
		return err
	}
	start, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := webapp.New(start, cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "url", cfg.AppURL, "addr", cfg.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
