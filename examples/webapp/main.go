// Command webapp is a web app with OpenID Connect login.
//
//	OIDC_ISSUER=https://id.example.com OIDC_CLIENT_ID=app OIDC_CLIENT_SECRET=… go run ./examples/webapp
//
// Environment:
//
//	OIDC_ISSUER         required: the provider's issuer URL
//	OIDC_CLIENT_ID      required: the app's client ID at the provider
//	OIDC_CLIENT_SECRET  its secret; empty: a public client (PKCE alone)
//	OIDC_SCOPES         default "openid profile email offline_access"
//	OIDC_RESOURCE       an RFC 8707 resource for the access token, optional
//	APP_URL             default http://127.0.0.1:8080; the redirect URI is APP_URL/callback,
//	                    the post-logout URI APP_URL/, the back-channel logout URI
//	                    APP_URL/backchannel-logout
//	ADDR                listen address, default APP_URL's host:port
//	SESSION_STORE       cookie (default): sessions sealed in cookies; redis: sessions, and the
//	                    logouts and logout tokens seen, in Redis, shared by replicas
//	REDIS_URL           required with SESSION_STORE=redis: redis://[user:password@]host[:port][/db]
//	                    (rediss:// for TLS)
//	SESSION_SECRET      32+ bytes, hex or base64; random per process (with a warning) if unset:
//	                    replicas need the same one
//	API_URL             an API whose /me the /api route calls as the user
//
// SIGINT or SIGTERM shut it down gracefully.
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
	app, err := webapp.New(start, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := app.Close(); err != nil {
			log.Warn("closing the app", "err", err)
		}
	}()
	srv := &http.Server{Addr: cfg.Addr, Handler: app, ReadHeaderTimeout: 10 * time.Second}
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
