package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// realisticSession returns the identity and Values of a logged-in user as
// rp stores them: an RS256 ID token and JWT access token, an opaque refresh
// token, the claims as JSON, and the token metadata.
func realisticSession() (Identity, map[any]any) {
	id := Identity{
		Issuer:  "https://login.example.com/realms/customers",
		Subject: "f47ac10b-58cc-4372-a567-0e02b2c3d479",
		SID:     "3c2d8f4e-1b6a-4f1e-9d1c-7a2b5e6f8091",
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Unix()
	claims := map[string]any{
		"iss": id.Issuer, "sub": id.Subject, "sid": id.SID, "aud": "webapp-client",
		"azp": "webapp-client", "exp": now + 300, "iat": now, "auth_time": now,
		"nonce": random(32), "at_hash": random(16), "acr": "1",
		"email": "alice.liddell@example.com", "email_verified": true,
		"name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
		"preferred_username": "alice", "locale": "en",
	}
	claimsJSON, _ := json.Marshal(claims)
	access, _ := json.Marshal(map[string]any{
		"iss": id.Issuer, "sub": id.Subject, "sid": id.SID, "aud": []string{"https://api.example.com", "account"},
		"azp": "webapp-client", "exp": now + 300, "iat": now, "jti": random(16), "typ": "Bearer",
		"scope": "openid profile email offline_access", "client_id": "webapp-client",
		"realm_access": map[string]any{"roles": []string{"default-roles-customers", "offline_access", "uma_authorization"}},
	})
	return id, map[any]any{
		"iss":           id.Issuer,
		"sub":           id.Subject,
		"sid":           id.SID,
		"claims":        string(claimsJSON),
		"id_token":      jwt(claimsJSON),
		"nonce":         claims["nonce"],
		"access_token":  jwt(access),
		"refresh_token": random(96),
		"token_type":    "Bearer",
		"expiry":        now + 300,
		"lifetime":      int64(300),
	}
}

// jwt returns an RS256-sized JWT with the given payload.
func jwt(payload []byte) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"` + random(20) + `"}`))
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + random(256)
}

// random returns n random bytes in base64url.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestRedisSessionSize measures what one realistic logged-in session costs in
// Redis (MEMORY USAGE of its data key, plus its share of the index sets), and
// how many such sessions a gigabyte holds. Run with -v to see the numbers.
func TestRedisSessionSize(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	id, values := realisticSession()
	_, sess := login(t, s, id, values)
	ctx := context.Background()

	var tokens int
	for _, k := range []string{"id_token", "access_token", "refresh_token", "claims"} {
		tokens += len(values[k].(string))
	}
	sealed, err := e.client.StrLen(ctx, s.dataKey(sess.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	data := memoryUsage(t, e, s.dataKey(sess.ID))
	var index int64
	for _, k := range s.index.current(e.prefix, id) {
		index += memoryUsage(t, e, k)
	}
	total := data + index
	t.Logf("tokens and claims: %d bytes; sealed value: %d bytes", tokens, sealed)
	t.Logf("Redis memory per session: %d bytes (data key %d, index sets %d when a user has one session)", total, data, index)
	t.Logf("sessions per GiB: %d (%d without the index)", (1<<30)/total, (1<<30)/data)
	if total > 8<<10 {
		t.Errorf("a realistic session takes %d bytes of Redis, want under 8 KiB", total)
	}
	if strings.Contains(e.client.Get(ctx, s.dataKey(sess.ID)).Val(), values["refresh_token"].(string)) {
		t.Error("the sealed value shows the refresh token")
	}
}

func memoryUsage(tb testing.TB, e *redisEnv, key string) int64 {
	tb.Helper()
	n, err := e.client.MemoryUsage(context.Background(), key, 0).Result()
	if err != nil {
		tb.Fatalf("MEMORY USAGE %s: %v", key, err)
	}
	return n
}
