package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits of the loopback redirect server.
const (
	loopbackReadHeaderTimeout = 10 * time.Second
	loopbackMaxHeaderBytes    = 32 << 10
	loopbackMaxBodyBytes      = 64 << 10
	loopbackShutdownTimeout   = 5 * time.Second
)

// LoopbackConfig configures LoopbackLogin. Only Open is required; the zero
// values of the other fields are the defaults stated below.
type LoopbackConfig struct {
	// Open shows the user the authorization URL: it opens the system
	// browser, or prints the URL for the user to open. Required. It runs
	// in its own goroutine while LoopbackLogin waits for the browser; an
	// error it returns before the browser comes back ends the login.
	Open func(authURL string) error
	// Host is the loopback address to listen on and to name in the
	// redirect URI: an IP literal such as "127.0.0.1" or "::1", or
	// "localhost", which is named in the redirect URI while the listener
	// is on 127.0.0.1. Empty means "127.0.0.1", which RFC 8252 §8.3
	// prefers: a browser may resolve "localhost" to ::1 first. Other hosts
	// are refused.
	Host string
	// Port is the port to listen on. Zero means a free port chosen by the
	// system; the authorization server must then accept any port for
	// loopback redirect URIs (RFC 8252 §7.3).
	Port int
	// Path is the redirect URI's path. Empty means "/callback".
	Path string
	// Options are added to the authorization request (AuthCodeURL), e.g.
	// Scopes or Prompt. A RedirectURL among them is replaced by the
	// loopback one.
	Options []AuthOption
	// SuccessHTML is the page the browser gets after a successful login.
	// Empty means a short page saying the window can be closed.
	SuccessHTML string
	// ErrorHTML is the page the browser gets when the login failed, sent
	// as is. Empty means a short page naming the error.
	ErrorHTML string
}

// LoopbackLogin logs a user in from a native app through the system
// browser (RFC 8252 §7.3): it listens on a loopback address, makes an
// authorization request whose redirect URI is
// http://HOST:PORT/PATH (with PKCE, state and nonce, pushed when PAR is
// configured), passes its URL to cfg.Open, and waits for the browser to
// come back. The one request to Path with the request's state is checked
// with ParseResponse (iss, error responses as *AuthError) and its code
// redeemed with Exchange; the browser then gets a small page saying the
// window can be closed, or what went wrong. Any other request gets 404 or
// 400 and the wait goes on; a request whose Host header names another
// host (DNS rebinding) is refused.
//
// The listener is shut down in every case, and the wait ends with ctx:
// give ctx a deadline. The returned ID token is not verified: the rp
// package does that. Concurrent calls are independent.
func (c *Client) LoopbackLogin(ctx context.Context, cfg LoopbackConfig) (*Token, error) {
	host, path, err := cfg.check()
	if err != nil {
		return nil, err
	}
	ln, authority, err := listenLoopback(host, cfg.Port)
	if err != nil {
		return nil, wrap("loopback login", err)
	}
	opts := append(cfg.Options[:len(cfg.Options):len(cfg.Options)], RedirectURL("http://"+authority+path))
	req, err := c.AuthCodeURL(ctx, opts...)
	if err != nil {
		ln.Close()
		return nil, wrap("loopback login", err)
	}
	cb := &callback{req: req, authority: authority, path: path, successHTML: cfg.SuccessHTML, errorHTML: cfg.ErrorHTML,
		got: make(chan url.Values), outcome: make(chan error, 1), stop: make(chan struct{})}
	srv := &http.Server{
		Handler:           cb,
		ReadHeaderTimeout: loopbackReadHeaderTimeout,
		ReadTimeout:       2 * loopbackReadHeaderTimeout,
		IdleTimeout:       loopbackReadHeaderTimeout,
		MaxHeaderBytes:    loopbackMaxHeaderBytes,
	}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed
	defer shutdown(srv)
	defer close(cb.stop)
	opened := make(chan error, 1)
	go func() { opened <- cfg.Open(req.URL) }()
	tok, err := c.awaitCallback(ctx, cb, opened)
	if err != nil {
		return nil, wrap("loopback login", err)
	}
	return tok, nil
}

// listenLoopback listens on host (127.0.0.1 for localhost) and port, and
// returns the listener and the host:port the redirect URI names.
func listenLoopback(host string, port int) (net.Listener, string, error) {
	addr := host
	if host == "localhost" {
		addr = "127.0.0.1" // whatever the resolver says
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return nil, "", err
	}
	return ln, net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), nil
}

// awaitCallback waits for the browser to bring the authorization response
// (or for Open to fail, or ctx to end), then finishes the login and tells
// the browser how it went. The loop turns at most twice: opened is read
// once.
func (c *Client) awaitCallback(ctx context.Context, cb *callback, opened chan error) (*Token, error) {
	for {
		select {
		case err := <-opened:
			if err != nil {
				return nil, fmt.Errorf("opening the browser: %w", err)
			}
			opened = nil // keep waiting for the browser
		case params := <-cb.got:
			tok, err := c.finishLoopback(ctx, params, cb.req)
			cb.outcome <- err
			return tok, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// finishLoopback checks the authorization response and redeems its code.
func (c *Client) finishLoopback(ctx context.Context, params url.Values, req *AuthRequest) (*Token, error) {
	code, err := c.ParseResponse(params, req)
	if err != nil {
		return nil, err
	}
	return c.Exchange(ctx, code, req)
}

// check validates cfg and returns its host and path with defaults.
func (cfg LoopbackConfig) check() (host, path string, err error) {
	host, path = cfg.Host, cfg.Path
	if host == "" {
		host = "127.0.0.1"
	}
	if path == "" {
		path = "/callback"
	}
	ip := net.ParseIP(host)
	switch {
	case cfg.Open == nil:
		return "", "", errors.New("client: LoopbackConfig.Open is required")
	case host != "localhost" && (ip == nil || !ip.IsLoopback()):
		return "", "", fmt.Errorf("client: LoopbackConfig.Host %q is not a loopback IP or localhost", cfg.Host)
	case cfg.Port < 0 || cfg.Port > 65535:
		return "", "", fmt.Errorf("client: LoopbackConfig.Port %d is out of range", cfg.Port)
	case !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#"):
		return "", "", fmt.Errorf("client: LoopbackConfig.Path %q must start with / and have no query or fragment", cfg.Path)
	}
	return host, path, nil
}

// shutdown stops srv, letting the page being written finish for a while.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), loopbackShutdownTimeout)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

// callback serves the loopback redirect URI. The one request with the
// authorization request's state hands its parameters to LoopbackLogin on
// got, unless LoopbackLogin has stopped waiting (stop), and tells the
// browser the outcome.
type callback struct {
	req         *AuthRequest
	authority   string // host:port the browser must name
	path        string
	got         chan url.Values
	outcome     chan error
	stop        chan struct{}
	successHTML string
	errorHTML   string
}

func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	switch {
	case r.URL.Path != cb.path:
		http.NotFound(w, r)
		return
	case !strings.EqualFold(r.Host, cb.authority):
		http.Error(w, "wrong host", http.StatusBadRequest)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	params, err := responseParams(w, r)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	// Only the request's state ends the wait: anything else is noise, or
	// an attack that must not stop the real response from coming.
	if subtle.ConstantTimeCompare([]byte(params.Get("state")), []byte(cb.req.State)) != 1 {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	select {
	case cb.got <- params: // taken once: LoopbackLogin receives once
		cb.page(w, <-cb.outcome) // and always answers what it took
	case <-cb.stop:
		cb.page(w, errors.New("login ended"))
	}
}

// responseParams returns the authorization response parameters: the query
// of a GET, the form body of a (form_post) POST.
func responseParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return url.ParseQuery(r.URL.RawQuery)
	}
	r.Body = http.MaxBytesReader(w, r.Body, loopbackMaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// page tells the browser how the login ended.
func (cb *callback) page(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err == nil {
		body := cb.successHTML
		if body == "" {
			body = pageHTML("Login complete", "You are logged in. You can close this window.")
		}
		fmt.Fprint(w, body)
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	body := cb.errorHTML
	if body == "" {
		what := "The login could not be completed."
		var ae *AuthError
		if errors.As(err, &ae) {
			what = "The authorization server answered: " + ae.Code + "."
		}
		body = pageHTML("Login failed", what+" You can close this window and try again.")
	}
	fmt.Fprint(w, body)
}

// pageHTML returns a minimal HTML page, escaping title and text.
func pageHTML(title, text string) string {
	return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(text) + "</p></body></html>\n"
}
