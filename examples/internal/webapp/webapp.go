// Package webapp is the example web app with login, shared by
// examples/webapp and examples/quickstart. Its routes and settings follow
// the examples contract in the project's design notes.
package webapp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/examples/internal/redisconn"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// Config is the web app's configuration; FromEnv reads it from the
// environment.
type Config struct {
	Issuer       string   // OIDC_ISSUER, required
	ClientID     string   // OIDC_CLIENT_ID
	ClientSecret string   // OIDC_CLIENT_SECRET; empty: public client
	Scopes       []string // OIDC_SCOPES
	Resource     string   // OIDC_RESOURCE
	AppURL       string   // APP_URL
	Addr         string   // ADDR
	SessionStore string   // SESSION_STORE: cookie or redis
	RedisURL     string   // REDIS_URL, required with SESSION_STORE=redis
	SessionKey   []byte   // SESSION_SECRET
	APIURL       string   // API_URL
	Logger       *slog.Logger
}

// FromEnv reads the configuration from the environment variables of the
// examples contract, with their defaults.
func FromEnv(log *slog.Logger) (Config, error) {
	c := Config{
		Issuer:       os.Getenv("OIDC_ISSUER"),
		ClientID:     os.Getenv("OIDC_CLIENT_ID"),
		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
		Scopes:       strings.Fields(envOr("OIDC_SCOPES", "openid profile email offline_access")),
		Resource:     os.Getenv("OIDC_RESOURCE"),
		AppURL:       strings.TrimSuffix(envOr("APP_URL", "http://127.0.0.1:8080"), "/"),
		Addr:         os.Getenv("ADDR"),
		SessionStore: envOr("SESSION_STORE", "cookie"),
		RedisURL:     os.Getenv("REDIS_URL"),
		APIURL:       strings.TrimSuffix(os.Getenv("API_URL"), "/"),
		Logger:       log,
	}
	if c.Issuer == "" {
		return c, errors.New("OIDC_ISSUER is required")
	}
	u, err := url.Parse(c.AppURL)
	if err != nil || u.Host == "" {
		return c, fmt.Errorf("APP_URL %q is not an absolute URL", c.AppURL)
	}
	if c.Addr == "" {
		c.Addr = u.Host
	}
	if s := os.Getenv("SESSION_SECRET"); s != "" {
		if c.SessionKey, err = decodeSecret(s); err != nil {
			return c, err
		}
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// decodeSecret reads a session secret of 32 or more bytes in hex or
// base64 (standard or URL alphabet, padded or not).
func decodeSecret(s string) ([]byte, error) {
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	for _, dec := range decoders {
		if b, err := dec(s); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, errors.New("SESSION_SECRET must be 32 or more bytes, hex or base64 encoded")
}

// App is the example web app: an http.Handler serving its routes. With
// SESSION_STORE=redis it holds a Redis client, for its sessions and for the
// logouts and logout tokens its replicas share.
type App struct {
	http.Handler
	redis *redis.Client // nil with cookie sessions
}

// Close releases the app's connections to Redis, if it has any. Stop
// serving first: requests in flight need them.
func (a *App) Close() error {
	if a.redis == nil {
		return nil
	}
	return a.redis.Close()
}

// New discovers the provider and returns the app. ctx bounds start-up
// only: the discovery request, and with Redis sessions the first ping.
// Close the app when done with it.
func New(ctx context.Context, c Config) (*App, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.SessionKey == nil {
		log.Warn("SESSION_SECRET is not set: using a random key; sessions end when the process does")
		c.SessionKey = make([]byte, 32)
		_, _ = rand.Read(c.SessionKey)
	}
	if c.ClientID == "" {
		return nil, errors.New("OIDC_CLIENT_ID is required")
	}
	secure := strings.HasPrefix(c.AppURL, "https://")
	a := &App{}
	cfg := rp.Config{
		Issuer:                c.Issuer,
		ClientID:              c.ClientID,
		ClientSecret:          c.ClientSecret,
		RedirectURL:           c.AppURL + "/callback",
		PostLogoutRedirectURL: c.AppURL + "/",
		Scopes:                c.Scopes,
		FetchUserinfo:         true,
		Logger:                log,
	}
	var err error
	switch c.SessionStore {
	case "cookie":
		cfg.Sessions, err = session.NewCookieStore([][]byte{c.SessionKey}, session.CookieConfig{Secure: secure, Logger: log})
	case "redis":
		if c.RedisURL == "" {
			return nil, errors.New("SESSION_STORE=redis needs REDIS_URL, such as redis://127.0.0.1:6379/0")
		}
		a.redis, err = redisconn.Connect(ctx, c.RedisURL)
		if err == nil {
			err = useRedis(&cfg, a.redis, c.SessionKey, secure, log)
		}
	default:
		err = fmt.Errorf("SESSION_STORE must be cookie or redis, not %q", c.SessionStore)
	}
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	// Login transactions stay in short-lived cookies whatever the store:
	// they live for one redirect to the provider and back.
	cfg.TransactionStore, err = session.NewCookieStore([][]byte{c.SessionKey}, session.CookieConfig{
		Secure: secure, AbsoluteTimeout: 10 * time.Minute, SkipIdleTimeout: true, Logger: log,
	})
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if c.Resource != "" {
		cfg.Resources = []string{c.Resource}
	}
	party, err := rp.New(ctx, cfg)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.Handler = (&app{rp: party, apiURL: c.APIURL, log: log}).routes()
	return a, nil
}

// useRedis keeps the sessions of cfg in Redis, and also the logouts and the
// logout tokens seen, which replicas must share for a back- or front-channel
// logout received by one to hold on all.
func useRedis(cfg *rp.Config, client *redis.Client, key []byte, secure bool, log *slog.Logger) error {
	store, err := session.NewRedisStore(client, [][]byte{key}, session.RedisConfig{Secure: secure, Logger: log})
	if err != nil {
		return err
	}
	cache, err := session.NewRedisCache(client, session.RedisCacheConfig{})
	if err != nil {
		return err
	}
	cfg.Sessions, cfg.ReplayCache, cfg.Logouts = store, cache, cache
	return nil
}

type app struct {
	rp     *rp.RP
	apiURL string
	log    *slog.Logger
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.rp.Authenticate(http.HandlerFunc(a.home)))
	mux.HandleFunc("GET /login", a.rp.Login)
	mux.HandleFunc("GET /callback", a.rp.Callback)
	mux.HandleFunc("POST /callback", a.rp.Callback)
	mux.Handle("GET /me", a.rp.Authenticate(http.HandlerFunc(a.me)))
	mux.Handle("GET /profile", a.rp.RequireLogin("/login", http.HandlerFunc(a.profile)))
	mux.Handle("GET /api", a.rp.RequireLogin("/login", http.HandlerFunc(a.api)))
	mux.HandleFunc("POST /logout", a.rp.Logout)
	// The provider's server posts logout tokens here; register
	// APP_URL/backchannel-logout (and APP_URL/frontchannel-logout, with
	// frontchannel_logout_session_required) as the client's logout URIs.
	mux.HandleFunc("POST /backchannel-logout", a.rp.BackchannelLogout)
	mux.HandleFunc("GET /frontchannel-logout", a.rp.FrontchannelLogout)
	return mux
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	u, _ := rp.UserFrom(r.Context())
	render(w, homePage, u)
}

func (a *app) profile(w http.ResponseWriter, r *http.Request) {
	u, _ := rp.UserFrom(r.Context())
	claims, _ := json.MarshalIndent(u.Claims, "", "  ")
	render(w, profilePage, struct {
		User   *rp.User
		Claims string
	}{u, string(claims)})
}

// me answers the logged-in user as JSON, or 401 login_required.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	u, ok := rp.UserFrom(r.Context())
	if !ok {
		rp.LoginRequired(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": u.Subject, "iss": u.Issuer, "claims": u.Claims})
}

// api calls API_URL/me as the user and relays the answer.
func (a *app) api(w http.ResponseWriter, r *http.Request) {
	if a.apiURL == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "API_URL is not set"})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.apiURL+"/me", nil)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	resp, err := a.rp.HTTPClient(w, r).Do(req)
	if errors.Is(err, rp.ErrLoginRequired) {
		rp.LoginRequired(w)
		return
	}
	if err != nil {
		a.log.Warn("api call failed", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "api_unreachable"})
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = t.Execute(w, data)
}

const style = `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}
pre{background:#f4f4f4;padding:1rem;overflow:auto}form{display:inline}</style>`

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Keyway web app</title>` + style + `</head><body>
<h1>Keyway web app</h1>
{{if .}}<p>Signed in as <strong id="name">{{or (index .Claims "name") .Subject}}</strong>.</p>
<ul><li><a href="/profile">Profile</a></li><li><a href="/me">/me (JSON)</a></li><li><a href="/api">Call the API</a></li></ul>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{else}}<p>You are not signed in.</p><p><a id="login" href="/login?return_to=/profile">Sign in</a></p>{{end}}
</body></html>
`))

var profilePage = template.Must(template.New("profile").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Profile</title>` + style + `</head><body>
<h1>Profile of <span id="name">{{or (index .User.Claims "name") .User.Subject}}</span></h1>
<p>Subject <code>{{.User.Subject}}</code> at <code>{{.User.Issuer}}</code>.</p>
<pre>{{.Claims}}</pre>
<p><a href="/">Home</a> · <a href="/api">Call the API</a></p>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
</body></html>
`))
