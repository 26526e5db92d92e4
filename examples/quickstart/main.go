// Command quickstart runs the whole Keyway flow on loopback in one process:
// an OpenID Provider (package oidctest, with a login form), a web app with
// login (examples/webapp) and a protected API (examples/api). Open the
// printed URL, sign in as the demo user, and call the API as that user.
//
//	go run ./examples/quickstart
//
// Nothing needs to be installed or configured. -addr picks the web app's
// address (default 127.0.0.1:8080, or a free port when that is taken).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
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
	"github.com/keyway-go/keyway/examples/internal/webapp"
	"github.com/keyway-go/keyway/oidctest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "web app address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	qs, err := start(ctx, *addr, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
	defer qs.Close()
	qs.PrintWelcome(os.Stdout)
	<-ctx.Done()
}

// quickstart is the running demo: provider, web app and API.
type quickstart struct {
	Provider *oidctest.Server
	AppURL   string
	APIURL   string
	servers  []*http.Server
	app      *webapp.App
	api      *api.API
	stopAPI  context.CancelFunc // ends the API's background key refresh
}

// start runs the three parts. The web app listens on addr, or on a free
// loopback port when addr is taken.
func start(ctx context.Context, addr string, log *slog.Logger) (*quickstart, error) {
	appLn, err := net.Listen("tcp", addr)
	if err != nil {
		appLn, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		appLn.Close()
		return nil, err
	}
	qs := &quickstart{
		AppURL: "http://" + appLn.Addr().String(),
		APIURL: "http://" + apiLn.Addr().String(),
	}
	secret := rand.Text()
	qs.Provider = oidctest.NewServer(oidctest.Config{
		Interactive: true,
		Clients: []oidctest.Client{{
			ID:                     "quickstart",
			Secret:                 secret,
			RedirectURIs:           []string{qs.AppURL + "/callback"},
			PostLogoutRedirectURIs: []string{qs.AppURL + "/"},
			BackchannelLogoutURI:   qs.AppURL + "/backchannel-logout",
		}},
	})
	fail := func(err error) (*quickstart, error) {
		appLn.Close()
		apiLn.Close()
		qs.Close()
		return nil, err
	}
	// The API's validator refreshes keys in the background for as long as
	// the quickstart runs: its context ends at Close, not after start-up.
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
	qs.stopAPI = stopAPI
	qs.api, err = api.New(apiCtx, api.Config{Issuer: qs.Provider.Issuer, Audience: qs.APIURL, Logger: log})
	if err != nil {
		return fail(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	qs.app, err = webapp.New(startCtx, webapp.Config{
		Issuer:       qs.Provider.Issuer,
		ClientID:     "quickstart",
		ClientSecret: secret,
		Scopes:       []string{"openid", "profile", "email", "offline_access"},
		Resource:     qs.APIURL,
		AppURL:       qs.AppURL,
		SessionStore: "cookie",
		SessionKey:   randomKey(),
		APIURL:       qs.APIURL,
		Logger:       log,
	})
	if err != nil {
		return fail(err)
	}
	qs.serve(appLn, qs.app, log)
	qs.serve(apiLn, qs.api, log)
	return qs, nil
}

func (qs *quickstart) serve(ln net.Listener, h http.Handler, log *slog.Logger) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	qs.servers = append(qs.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	}()
}

// Close stops the servers.
func (qs *quickstart) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range qs.servers {
		_ = s.Shutdown(ctx)
	}
	if qs.app != nil {
		_ = qs.app.Close()
	}
	if qs.api != nil {
		_ = qs.api.Close()
	}
	if qs.stopAPI != nil {
		qs.stopAPI()
	}
	if qs.Provider != nil {
		qs.Provider.Close()
	}
}

// PrintWelcome tells the user where to click.
func (qs *quickstart) PrintWelcome(w io.Writer) {
	u := oidctest.DemoUser
	fmt.Fprintf(w, `Keyway quickstart is running.

  web app   %s/
  API       %s/me   (needs an access token; the web app's /api calls it for you)
  provider  %s

Open %s/ in a browser, click "Sign in", and log in as
  username: %s
  password: %s
Then open /profile, /me and /api. Press Ctrl-C to stop.
`, qs.AppURL, qs.APIURL, qs.Provider.Issuer, qs.AppURL, u.Username, u.Password)
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}
