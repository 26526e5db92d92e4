// Command cli is a native app that logs its user in: in the system browser
// through a loopback redirect with PKCE (RFC 8252), or, with -device, with
// the device authorization grant (RFC 8628) for machines without a browser.
// It is a public client: it has no secret.
//
// Usage:
//
//	cli [-device] [-browser=false]
//
// Environment:
//
//	OIDC_ISSUER     required: the authorization server's issuer URL (RFC 8414 or OpenID discovery)
//	OIDC_CLIENT_ID  required: the client ID, registered as a native public client
//	OIDC_SCOPES     scopes to ask for, default "openid profile offline_access"
//	OIDC_RESOURCE   optional: the RFC 8707 resource (the API's audience)
//	API_URL         optional: after login, GET API_URL/me with the token and print the answer
//
// Messages for the user (the URL to open, the code to enter) go to stderr;
// the result goes to stdout: the token's type, scope and expiry (never the
// token itself), then the API's answer if API_URL is set. It exits 0 when
// the login (and the API call) succeeded. SIGINT or SIGTERM cancel it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/keyway-go/keyway/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		os.Exit(1)
	}
}

type config struct {
	issuer, clientID, resource, apiURL string
	scopes                             []string
	device, browser                    bool
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{
		issuer:   getenv("OIDC_ISSUER"),
		clientID: getenv("OIDC_CLIENT_ID"),
		resource: getenv("OIDC_RESOURCE"),
		apiURL:   strings.TrimSuffix(getenv("API_URL"), "/"),
		scopes:   strings.Fields(getenv("OIDC_SCOPES")),
	}
	fs := flag.NewFlagSet("cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.device, "device", false, "use the device authorization grant instead of the browser on this machine")
	fs.BoolVar(&c.browser, "browser", true, "open the system browser (otherwise only print the URL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(c.scopes) == 0 {
		c.scopes = []string{"openid", "profile", "offline_access"}
	}
	var errs []error
	if c.issuer == "" {
		errs = append(errs, errors.New("OIDC_ISSUER is required"))
	}
	if c.clientID == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_ID is required"))
	}
	return c, errors.Join(errs...)
}

// run logs the user in and prints the result.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	md, err := client.Discover(ctx, cfg.issuer, nil)
	if err != nil {
		return err
	}
	c, err := client.New(client.Config{ClientID: cfg.clientID, Endpoint: md.Endpoint(), Scopes: cfg.scopes})
	if err != nil {
		return err
	}
	var tok *client.Token
	if cfg.device {
		tok, err = deviceLogin(ctx, c, cfg, stderr)
	} else {
		tok, err = browserLogin(ctx, c, cfg, stderr)
	}
	if err != nil {
		return err
	}
	scope, _ := tok.Extra("scope").(string)
	fmt.Fprintf(stdout, "logged in: %s token, scope %q, expires %s, refresh token: %t\n",
		tok.Type(), scope, tok.Expiry.Format(time.RFC3339), tok.RefreshToken != "")
	if cfg.apiURL == "" {
		return nil
	}
	return callAPI(ctx, c, tok, cfg.apiURL+"/me", stdout)
}

// browserLogin runs the loopback login (RFC 8252 §7.3).
func browserLogin(ctx context.Context, c *client.Client, cfg config, stderr io.Writer) (*client.Token, error) {
	var opts []client.AuthOption
	if cfg.resource != "" {
		opts = append(opts, client.Resource(cfg.resource))
	}
	return c.LoopbackLogin(ctx, client.LoopbackConfig{
		Options: opts,
		Open: func(authURL string) error {
			fmt.Fprintf(stderr, "Open this URL in your browser to log in:\n\n  %s\n\n", authURL)
			if cfg.browser {
				if err := openBrowser(authURL); err != nil {
					fmt.Fprintf(stderr, "(could not open a browser: %v)\n", err)
				}
			}
			return nil
		},
	})
}

// deviceLogin runs the device authorization grant (RFC 8628).
func deviceLogin(ctx context.Context, c *client.Client, cfg config, stderr io.Writer) (*client.Token, error) {
	var opts []client.AuthOption
	if cfg.resource != "" {
		opts = append(opts, client.Resource(cfg.resource))
	}
	da, err := c.DeviceAuth(ctx, opts...)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "On any device, open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(stderr, "or open %s\n", da.VerificationURIComplete)
	}
	fmt.Fprintf(stderr, "Waiting until %s…\n", da.Expiry.Format(time.Kitchen))
	return c.DeviceToken(ctx, da)
}

// callAPI GETs target with the token (refreshed if it has expired) and
// prints the status and the first 1 KiB of the body.
func callAPI(ctx context.Context, c *client.Client, tok *client.Token, target string, stdout io.Writer) error {
	hc := c.HTTPClientFor(c.TokenSource(tok))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "GET %s: %d %s\n", target, resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the API answered %d", resp.StatusCode)
	}
	return nil
}

// openBrowser asks the system to open target in the user's browser.
func openBrowser(target string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", target)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", target)
	default:
		cmd = exec.Command("xdg-open", target)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it; the browser outlives the opener
	return nil
}
