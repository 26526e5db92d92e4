// Command api is a protected API: it accepts OAuth 2.0 access tokens
// issued by OIDC_ISSUER for API_AUDIENCE.
//
// Environment:
//
//	OIDC_ISSUER   required: the provider's issuer URL; keys come from its discovery document
//	API_AUDIENCE  required: the audience (RFC 8707 resource) tokens must be issued for
//	ADDR          listen address, default 127.0.0.1:8081
//	REDIS_URL     optional: a Redis shared by replicas to remember DPoP proofs (replay cache)
//	INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET
//	              optional: also accept opaque access tokens, checked at the
//	              provider's introspection endpoint (RFC 7662) as this client
//
// Routes:
//
//	GET /public                                200, no token needed
//	GET /me                                    200 {"sub":…,"client_id":…,"scope":[…]} for a valid token
//	GET /admin                                 needs scope admin: 403 insufficient_scope otherwise
//	GET /.well-known/oauth-protected-resource  RFC 9728 protected resource metadata
//
// Without a token the answer is 401 with a bare Bearer challenge (and a DPoP
// one), with a bad token 401 invalid_token, with two Authorization headers
// or a token in the query string 400 invalid_request. DPoP-bound tokens
// (cnf.jkt) need the DPoP scheme and a valid proof (RFC 9449). SIGINT or
// SIGTERM shut it down gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyway-go/keyway/examples/internal/api"
	"github.com/keyway-go/keyway/examples/internal/redisconn"
	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/session"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

type config struct {
	issuer, audience, addr string
	redisURL               string
	introspectID           string
	introspectSecret       string
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		issuer: getenv("OIDC_ISSUER"), audience: getenv("API_AUDIENCE"), addr: getenv("ADDR"),
		redisURL:         getenv("REDIS_URL"),
		introspectID:     getenv("INTROSPECTION_CLIENT_ID"),
		introspectSecret: getenv("INTROSPECTION_CLIENT_SECRET"),
	}
	var errs []error
	if (c.introspectID == "") != (c.introspectSecret == "") {
		errs = append(errs, errors.New("INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET go together"))
	}
	if c.issuer == "" {
		errs = append(errs, errors.New("OIDC_ISSUER is required: the issuer URL of the OpenID Provider, e.g. https://id.example.com"))
	}
	if c.audience == "" {
		errs = append(errs, errors.New("API_AUDIENCE is required: the audience tokens are issued for, e.g. https://api.example.com"))
	}
	if c.addr == "" {
		c.addr = "127.0.0.1:8081"
	}
	return c, errors.Join(errs...)
}

// run serves the API until ctx is done or a signal arrives.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("api listening", "url", "http://"+ln.Addr().String(), "issuer", cfg.issuer, "audience", cfg.audience,
		"redis", cfg.redisURL != "", "introspection", cfg.introspectID != "")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("api shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// app is the API with what it holds open.
type app struct {
	*api.API
	redis io.Closer // nil without REDIS_URL
}

// Close stops the API and closes its Redis client.
func (a *app) Close() error {
	err := a.API.Close()
	if a.redis != nil {
		err = errors.Join(err, a.redis.Close())
	}
	return err
}

// build makes the API of cfg: DPoP proofs remembered in Redis when
// REDIS_URL is set, opaque tokens introspected when a client is given.
func build(ctx context.Context, cfg config, logger *slog.Logger) (*app, error) {
	ac := api.Config{Issuer: cfg.issuer, Audience: cfg.audience, Logger: logger}
	if cfg.introspectID != "" {
		ac.Introspection = &middleware.Introspection{ClientID: cfg.introspectID, ClientSecret: cfg.introspectSecret}
	}
	a := &app{}
	if cfg.redisURL != "" {
		rc, err := redisconn.Connect(ctx, cfg.redisURL)
		if err != nil {
			return nil, err
		}
		a.redis = rc
		if ac.ReplayCache, err = session.NewRedisCache(rc, session.RedisCacheConfig{}); err != nil {
			return nil, errors.Join(err, rc.Close())
		}
	}
	var err error
	if a.API, err = api.New(ctx, ac); err != nil {
		if a.redis != nil {
			err = errors.Join(err, a.redis.Close())
		}
		return nil, err
	}
	return a, nil
}
