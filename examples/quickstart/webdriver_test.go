package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

// A small W3C WebDriver client (https://www.w3.org/TR/webdriver2/) for
// driving headless Chromium through chromedriver, over plain HTTP.

const (
	// chromeDriverVar names the chromedriver binary; empty means
	// /usr/bin/chromedriver.
	chromeDriverVar = "KEYWAY_CHROMEDRIVER"

	commandTimeout = 30 * time.Second       // one WebDriver command
	pageLoadLimit  = 10 * time.Second       // one navigation or click that loads a page
	waitLimit      = 10 * time.Second       // waiting for an element, a text or a URL
	waitStep       = 100 * time.Millisecond // polling interval of those waits
	startLimit     = 10 * time.Second       // chromedriver answering /status ready

	// elementKey is the W3C web element identifier.
	elementKey = "element-6066-11e4-a52e-4f735466cecf"
)

// webDriver is one browser session.
type webDriver struct {
	session string // base URL of the session: http://127.0.0.1:port/session/id
	http    *http.Client
}

// webDriverError is an error answered by the WebDriver server.
type webDriverError struct {
	Status  int
	Code    string // "no such element", "stale element reference", …
	Message string
}

func (e *webDriverError) Error() string {
	return fmt.Sprintf("webdriver: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// startBrowser starts chromedriver and a headless Chromium session with
// its own profile. Both end in t.Cleanup; when t has failed by then, a
// screenshot, the page source and chromedriver's log are saved first.
// Without Chromium or chromedriver the test is skipped, or fails under
// CI=true.
func startBrowser(t *testing.T) *webDriver {
	t.Helper()
	chromium := testenv.Chromium(t)
	driverBin := chromeDriver(t)
	profile := t.TempDir() // removed last: after Chromium has quit

	client := &http.Client{
		Timeout:   commandTimeout,
		Transport: &http.Transport{Proxy: nil}, // loopback only, never a proxy
	}
	t.Cleanup(client.CloseIdleConnections)
	driverURL, driverLog := startChromeDriver(t, driverBin, client)
	caps := map[string]any{"capabilities": map[string]any{
		"alwaysMatch": map[string]any{
			"browserName":      "chrome",
			"pageLoadStrategy": "normal",
			"timeouts": map[string]int64{
				"pageLoad": pageLoadLimit.Milliseconds(),
				"script":   pageLoadLimit.Milliseconds(),
				"implicit": 0, // waits are explicit and bounded: see find
			},
			"goog:chromeOptions": map[string]any{
				"binary": chromium,
				"args": []string{
					"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
					"--disable-background-networking", "--disable-component-update",
					"--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server",
					"--window-size=1024,768", "--user-data-dir=" + profile,
				},
			},
		},
	}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := call(context.Background(), client, http.MethodPost, driverURL+"/session", caps, &created); err != nil {
		t.Fatalf("start a Chromium session: %v\nchromedriver log:\n%s", err, tail(readFile(driverLog), 4000))
	}
	wd := &webDriver{session: driverURL + "/session/" + created.SessionID, http: client}
	t.Cleanup(func() {
		if t.Failed() {
			wd.saveEvidence(t, driverLog)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		if err := call(ctx, client, http.MethodDelete, wd.session, nil, nil); err != nil {
			t.Logf("end the browser session: %v", err)
		}
	})
	return wd
}

// chromeDriver returns the path of chromedriver, with the rules of
// testenv: skipped when missing, failed under CI=true.
func chromeDriver(t *testing.T) string {
	t.Helper()
	p := os.Getenv(chromeDriverVar)
	if p == "" {
		p = "/usr/bin/chromedriver"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromedriver is required under CI=true but missing: %v", err)
		}
		t.Skipf("chromedriver not available (%v); ./test.sh sets it up", err)
	}
	return p
}

// startChromeDriver runs chromedriver on a free loopback port until the
// test ends and waits, at most startLimit, until it is ready. It returns
// the server's URL and the file holding its output.
func startChromeDriver(t *testing.T, bin string, client *http.Client) (baseURL, logPath string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("find a free port for chromedriver: %v", err)
	}
	logPath = filepath.Join(t.TempDir(), "chromedriver.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start chromedriver: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		out.Close()
	})

	baseURL = "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(startLimit)
	for {
		var status struct {
			Ready bool `json:"ready"`
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := call(ctx, client, http.MethodGet, baseURL+"/status", nil, &status)
		cancel()
		if err == nil && status.Ready {
			return baseURL, logPath
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			t.Fatalf("chromedriver exited at start: %v\n%s", werr, tail(readFile(logPath), 4000))
		case <-time.After(waitStep):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready on %s after %v (last error: %v)\n%s",
				baseURL, startLimit, err, tail(readFile(logPath), 4000))
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// navigate loads url and waits (at most pageLoadLimit) until it has loaded.
func (wd *webDriver) navigate(url string) error {
	return wd.do(http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

// currentURL returns the URL of the current page.
func (wd *webDriver) currentURL() (string, error) {
	var u string
	err := wd.do(http.MethodGet, "/url", nil, &u)
	return u, err
}

// pageSource returns the current page's HTML as the browser sees it.
func (wd *webDriver) pageSource() (string, error) {
	var s string
	err := wd.do(http.MethodGet, "/source", nil, &s)
	return s, err
}

// find returns the ID of the first element matching the CSS selector,
// waiting for it at most waitLimit.
func (wd *webDriver) find(selector string) (string, error) {
	var id string
	err := poll(func() (bool, error) {
		var el map[string]string
		err := wd.do(http.MethodPost, "/element", map[string]string{"using": "css selector", "value": selector}, &el)
		if isCode(err, "no such element") {
			return false, err
		}
		id = el[elementKey]
		return true, err
	})
	if err != nil {
		return "", fmt.Errorf("find %q: %w", selector, err)
	}
	return id, nil
}

// click clicks the element matching selector; when that loads a page,
// it returns once the page has loaded.
func (wd *webDriver) click(selector string) error {
	return wd.onElement(selector, func(id string) error {
		return wd.do(http.MethodPost, "/element/"+id+"/click", map[string]any{}, nil)
	})
}

// typeText types text into the element matching selector.
func (wd *webDriver) typeText(selector, text string) error {
	return wd.onElement(selector, func(id string) error {
		return wd.do(http.MethodPost, "/element/"+id+"/value", map[string]string{"text": text}, nil)
	})
}

// text returns the rendered text of the element matching selector.
func (wd *webDriver) text(selector string) (string, error) {
	var s string
	err := wd.onElement(selector, func(id string) error {
		return wd.do(http.MethodGet, "/element/"+id+"/text", nil, &s)
	})
	return s, err
}

// waitText waits, at most waitLimit, until the element matching selector
// shows text containing want, and returns the text.
func (wd *webDriver) waitText(selector, want string) (string, error) {
	var got string
	err := poll(func() (bool, error) {
		var err error
		got, err = wd.text(selector)
		return err == nil && strings.Contains(got, want), err
	})
	switch {
	case err != nil:
		return "", err
	case !strings.Contains(got, want):
		return got, fmt.Errorf("text of %q is %q after %v, want it to contain %q", selector, got, waitLimit, want)
	}
	return got, nil
}

// waitURL waits, at most waitLimit, until the current URL is want,
// ignoring its query and fragment.
func (wd *webDriver) waitURL(want string) error {
	var got string
	err := poll(func() (bool, error) {
		var err error
		got, err = wd.currentURL()
		got, _, _ = strings.Cut(got, "?")
		got, _, _ = strings.Cut(got, "#")
		return err == nil && got == want, err
	})
	switch {
	case err != nil:
		return err
	case got != want:
		return fmt.Errorf("URL is %q after %v, want %q", got, waitLimit, want)
	}
	return nil
}

// onElement finds selector and runs f on the element, finding it again
// when the page replaced it in between.
func (wd *webDriver) onElement(selector string, f func(id string) error) error {
	return poll(func() (bool, error) {
		id, err := wd.find(selector)
		if err != nil {
			return true, err // find waited already
		}
		if err = f(id); err != nil {
			err = fmt.Errorf("%q: %w", selector, err)
		}
		return !isCode(err, "stale element reference"), err
	})
}

// screenshot returns a PNG of the current page.
func (wd *webDriver) screenshot() ([]byte, error) {
	var b64 string
	if err := wd.do(http.MethodGet, "/screenshot", nil, &b64); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// saveEvidence keeps what explains a failure: a screenshot, the page
// source and chromedriver's log, in a directory that outlives the test
// (t.TempDir would be removed with it), and logs the page source.
func (wd *webDriver) saveEvidence(t *testing.T, driverLog string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "keyway-browser-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Logf("keep failure evidence: %v", err)
		return
	}
	if u, err := wd.currentURL(); err == nil {
		t.Logf("browser was at %s", u)
	}
	if png, err := wd.screenshot(); err != nil {
		t.Logf("screenshot: %v", err)
	} else if err := os.WriteFile(filepath.Join(dir, "screenshot.png"), png, 0o644); err == nil {
		t.Logf("screenshot: %s", filepath.Join(dir, "screenshot.png"))
	}
	if src, err := wd.pageSource(); err != nil {
		t.Logf("page source: %v", err)
	} else {
		_ = os.WriteFile(filepath.Join(dir, "page.html"), []byte(src), 0o644)
		t.Logf("page source (%s):\n%s", filepath.Join(dir, "page.html"), tail(src, 8000))
	}
	if log := readFile(driverLog); log != "" {
		_ = os.WriteFile(filepath.Join(dir, "chromedriver.log"), []byte(log), 0o644)
		t.Logf("chromedriver log: %s", filepath.Join(dir, "chromedriver.log"))
	}
}

// do sends one command to the session and decodes the answer's value
// into result (when not nil).
func (wd *webDriver) do(method, path string, body, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return call(ctx, wd.http, method, wd.session+path, body, result)
}

// call sends a WebDriver request and decodes the answer's value into
// result. An error answer becomes a *webDriverError.
func call(ctx context.Context, client *http.Client, method, url string, body, result any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver: %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("webdriver: %s %s: %w", method, url, err)
	}
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("webdriver: %s %s: HTTP %d, not JSON: %s", method, url, resp.StatusCode, tail(string(raw), 500))
	}
	if resp.StatusCode != http.StatusOK {
		e := &webDriverError{Status: resp.StatusCode}
		var v struct{ Error, Message string }
		_ = json.Unmarshal(answer.Value, &v)
		e.Code, e.Message = v.Error, firstLine(v.Message)
		return e
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(answer.Value, result); err != nil {
		return fmt.Errorf("webdriver: %s %s: decode %s: %w", method, url, tail(string(answer.Value), 500), err)
	}
	return nil
}

// poll calls f every waitStep until it reports done, at most waitLimit,
// and returns f's last error.
func poll(f func() (done bool, err error)) error {
	deadline := time.Now().Add(waitLimit)
	for {
		done, err := f()
		if done || time.Now().After(deadline) {
			return err
		}
		time.Sleep(waitStep)
	}
}

func isCode(err error, code string) bool {
	var e *webDriverError
	return errors.As(err, &e) && e.Code == code
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
