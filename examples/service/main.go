// Command service is a machine-to-machine client: it gets an access token
// with the client-credentials grant and calls API_URL/me through an
// *http.Client that attaches the token and renews it before it expires.
//
// Environment:
//
//	OIDC_ISSUER         required: the authorization server's issuer URL (RFC 8414 or OpenID discovery)
//	OIDC_CLIENT_ID      required: the client ID
//	OIDC_CLIENT_SECRET  required: the client secret (client_secret_basic)
//	API_URL             required: the API's base URL; GET API_URL/me is called
//	OIDC_RESOURCE       optional: the RFC 8707 resource (the API's audience) to ask the token for
//	OIDC_SCOPES         optional: space-separated scopes to ask for
//	CALLS               how many calls to make, default 3
//	CALL_INTERVAL       pause between calls (a Go duration), default 1s
//	DPOP                "true": bind the tokens to a fresh P-256 key with DPoP (RFC 9449)
//
// It prints one line per call with the status and the body, and exits 0 when
// every call got a 2xx answer, 1 otherwise. SIGINT or SIGTERM stop it.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyway-go/keyway/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

type config struct {
	issuer, clientID, secret, apiURL, resource string
	scopes                                     []string
	calls                                      int
	interval                                   time.Duration
	dpop                                       bool
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		issuer:   getenv("OIDC_ISSUER"),
		clientID: getenv("OIDC_CLIENT_ID"),
		secret:   getenv("OIDC_CLIENT_SECRET"),
		apiURL:   strings.TrimSuffix(getenv("API_URL"), "/"),
		resource: getenv("OIDC_RESOURCE"),
		scopes:   strings.Fields(getenv("OIDC_SCOPES")),
		calls:    3,
		interval: time.Second,
	}
	var errs []error
	for name, v := range map[string]string{
		"OIDC_ISSUER": c.issuer, "OIDC_CLIENT_ID": c.clientID,
		"OIDC_CLIENT_SECRET": c.secret, "API_URL": c.apiURL,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if s := getenv("CALLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			errs = append(errs, fmt.Errorf("CALLS=%q: want a number from 1 to 10000", s))
		}
		c.calls = n
	}
	if s := getenv("CALL_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > time.Hour {
			errs = append(errs, fmt.Errorf("CALL_INTERVAL=%q: want a duration from 0s to 1h", s))
		}
		c.interval = d
	}
	switch s := getenv("DPOP"); s {
	case "", "false", "0":
	case "true", "1":
		c.dpop = true
	default:
		errs = append(errs, fmt.Errorf("DPOP=%q: want true or false", s))
	}
	return c, errors.Join(errs...)
}

// run makes the calls and reports whether all of them succeeded.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	hc, err := newAPIClient(ctx, cfg, logger)
	if err != nil {
		return err
	}
	failed := 0
	for i := range cfg.calls {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(cfg.interval):
			}
		}
		status, body, err := call(ctx, hc, cfg.apiURL+"/me")
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(stdout, "call %d: error: %v\n", i+1, err)
		default:
			if status < 200 || status > 299 {
				failed++
			}
			fmt.Fprintf(stdout, "call %d: %d %s\n", i+1, status, body)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d calls failed", failed, cfg.calls)
	}
	return nil
}

// newAPIClient discovers the server, and returns an HTTP client whose
// requests carry a client-credentials token, renewed before it expires.
func newAPIClient(ctx context.Context, cfg config, logger *slog.Logger) (*http.Client, error) {
	md, err := client.Discover(ctx, cfg.issuer, nil)
	if err != nil {
		return nil, err
	}
	cc := client.Config{
		ClientID:     cfg.clientID,
		ClientSecret: cfg.secret,
		Endpoint:     md.Endpoint(),
		Scopes:       cfg.scopes,
		Logger:       logger,
	}
	if cfg.dpop {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		if cc.DPoP, err = client.NewDPoP(key, "ES256"); err != nil {
			return nil, err
		}
	}
	c, err := client.New(cc)
	if err != nil {
		return nil, err
	}
	var opts []client.TokenOption
	if cfg.resource != "" {
		opts = append(opts, client.Resource(cfg.resource))
	}
	src := c.ClientCredentialsSource(client.RefreshWith(opts...))
	return c.HTTPClientFor(src), nil
}

// call GETs target and returns the status and the first 1 KiB of the body.
func call(ctx context.Context, hc *http.Client, target string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}
