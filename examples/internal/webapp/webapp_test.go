package webapp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

// TestNewSessionStoreErrors checks that New refuses a session store it cannot
// set up, with an error naming the setting, and never shows a password given
// in REDIS_URL. None of these reaches the provider.
func TestNewSessionStoreErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, store, redisURL, want string
	}{
		{"unknown store", "memcached", "", `SESSION_STORE must be cookie or redis, not "memcached"`},
		{"redis without REDIS_URL", "redis", "", "SESSION_STORE=redis needs REDIS_URL"},
		{"REDIS_URL not a URL", "redis", "redis://user:hunter2@127.0.0.1:port/0", "REDIS_URL is not a Redis URL"},
		{"REDIS_URL of another scheme", "redis", "https://user:hunter2@127.0.0.1/", "REDIS_URL is not a Redis URL"},
		{"no Redis at REDIS_URL", "redis", "redis://user:hunter2@127.0.0.1:1/0", "REDIS_URL: Redis at 127.0.0.1:1 does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			app, err := New(ctx, Config{
				Issuer:       "http://127.0.0.1:1",
				ClientID:     "app",
				AppURL:       "http://127.0.0.1:8080",
				SessionStore: tt.store,
				RedisURL:     tt.redisURL,
				SessionKey:   make([]byte, 32),
			})
			if err == nil {
				app.Close()
				t.Fatalf("New: no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New: %v shows the Redis password", err)
			}
		})
	}
}

// TestRedisSessions logs in with SESSION_STORE=redis, finds the session in
// Redis under the ID its cookie holds, and has the provider log the session
// out over the back channel: its Redis data is deleted and /me answers 401.
func TestRedisSessions(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	srv := httptest.NewUnstartedServer(nil)
	appURL := "http://" + srv.Listener.Addr().String()
	secret := rand.Text()
	op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
		ID:                     "app",
		Secret:                 secret,
		RedirectURIs:           []string{appURL + "/callback"},
		PostLogoutRedirectURIs: []string{appURL + "/"},
		BackchannelLogoutURI:   appURL + "/backchannel-logout",
	}}})
	t.Cleanup(op.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	app, err := New(ctx, Config{
		Issuer:       op.Issuer,
		ClientID:     "app",
		ClientSecret: secret,
		Scopes:       []string{"openid", "profile", "email", "offline_access"},
		AppURL:       appURL,
		SessionStore: "redis",
		RedisURL:     redisURL,
		SessionKey:   []byte(rand.Text() + rand.Text()),
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		srv.Close()
		if err := app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	srv.Config.Handler = app
	srv.Start()

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	// The provider logs the demo user in at once: /login ends at return_to.
	if status, body := get(t, browser, appURL+"/login?return_to=/me"); status != http.StatusOK {
		t.Fatalf("login: status %d at the end: %s", status, body)
	}
	var me struct {
		Sub    string         `json:"sub"`
		Claims map[string]any `json:"claims"`
	}
	if status, body := get(t, browser, appURL+"/me"); status != http.StatusOK || json.Unmarshal([]byte(body), &me) != nil || me.Sub != oidctest.DemoUser.Subject {
		t.Fatalf("GET /me: status %d: %s; want the demo user", status, body)
	}
	sid, _ := me.Claims["sid"].(string)

	// The cookie holds the session ID and a tag; the session is in Redis
	// under "keyway:s:" and the ID.
	u, _ := url.Parse(appURL)
	var key string
	for _, c := range jar.Cookies(u) {
		if c.Name == "keyway" {
			id, _, _ := strings.Cut(c.Value, ".")
			key = "keyway:s:" + id
		}
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	if key == "" || rdb.Exists(ctx, key).Val() != 1 {
		t.Fatalf("no session in Redis under %q (cookies %v)", key, jar.Cookies(u))
	}

	if err := op.SendBackchannelLogout(ctx, "app", "", sid); err != nil {
		t.Fatalf("back-channel logout of sid %q: %v", sid, err)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Errorf("after back-channel logout the session is still in Redis")
	}
	if status, body := get(t, browser, appURL+"/me"); status != http.StatusUnauthorized || !strings.Contains(body, "login_required") {
		t.Errorf("GET /me after back-channel logout: status %d: %s; want 401 login_required", status, body)
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, string(b)
}
