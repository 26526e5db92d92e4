// Package testenv finds the real parts some tests need: a Redis server,
// node with the interop provider installed, and Chromium.
//
// A test that needs a part calls the function for it. When the part is
// missing the test is skipped on a developer's machine, and fails when the
// environment variable CI is "true": in CI a missing part is a broken
// set-up, never a reason to pass. ./test.sh provides every part.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Environment variables ./test.sh sets.
const (
	// RedisURLVar names the Redis server started for the tests.
	RedisURLVar = "KEYWAY_REDIS_URL"
	// ChromiumVar names the Chromium binary; empty means /usr/bin/chromium.
	ChromiumVar = "KEYWAY_CHROMIUM"
)

// missing skips or fails t because part is not available.
func missing(t testing.TB, part, how string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but missing: %s", part, how)
	}
	t.Skipf("%s not available (%s); ./test.sh sets it up", part, how)
}

// RedisURL returns the URL of the test Redis server.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(RedisURLVar)
	if u == "" {
		missing(t, "Redis", RedisURLVar+" is not set")
	}
	return u
}

// RedisServer returns the path of redis-server, for a test that starts a
// Redis of its own (to stop and restart it, say).
func RedisServer(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server", err.Error())
	}
	return p
}

// Chromium returns the path of the Chromium binary.
func Chromium(t testing.TB) string {
	t.Helper()
	p := os.Getenv(ChromiumVar)
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		missing(t, "Chromium", err.Error())
	}
	return p
}

// Node returns the path of node and the interop directory, which holds
// the installed oidc-provider.
func Node(t testing.TB) (node, interopDir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", err.Error())
	}
	dir := filepath.Join(RepoRoot(t), "interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		missing(t, "oidc-provider", "run `npm ci` in interop/")
	}
	return node, dir
}

// RepoRoot returns the root of the Keyway checkout.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
