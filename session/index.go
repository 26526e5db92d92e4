package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

// Identity is whom a session belongs to at the OpenID provider: the issuer,
// the user's subject and the provider's session ID (the ID token's sid claim),
// each compared exactly. A RedisStore indexes the sessions bound to one (see
// Bind) so that EndSessions can find them. SID may be empty: the provider
// then ends sessions by subject.
type Identity struct {
	Issuer  string
	Subject string
	SID     string
}

func (id Identity) check() error {
	if id.Issuer == "" && (id.Subject != "" || id.SID != "") {
		return errors.New("session: identity without an issuer")
	}
	return nil
}

// Index sets. The sessions bound to an identity are listed, by ID, in a
// Redis set for its SID and one for its subject:
//
//	KeyPrefix + "sid:" + N(K, "sid", issuer, SID)
//	KeyPrefix + "sub:" + N(K, "sub", issuer, subject)
//
// where N is the first 16 bytes, in base64url, of HMAC-SHA-256 under a key K
// derived from a secret, of the three fields each preceded by its length (a
// uvarint). Names are thus unambiguous and of fixed size, and a Redis dump
// does not show who is logged in. Save adds to the sets named under the
// newest secret and keeps each set alive as long as its longest-lived
// session; Delete removes, and EndSessions reads, the sets named under every
// secret, so rotating secrets loses no entry. An entry of a session that timed
// out stays until its set expires, and is harmless: its data is gone.
const indexInfo = "keyway redis session index v1 HMAC-SHA-256"

// indexNamer names index sets.
type indexNamer struct {
	keys [][]byte // newest first
}

func newIndexNamer(secrets [][]byte) (*indexNamer, error) {
	keys, err := subkeys(secrets, indexInfo)
	if err != nil {
		return nil, err
	}
	return &indexNamer{keys: keys}, nil
}

func (n *indexNamer) name(prefix string, key []byte, kind, issuer, value string) string {
	mac := hmac.New(sha256.New, key)
	var b []byte
	for _, f := range []string{kind, issuer, value} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	mac.Write(b)
	return prefix + kind + ":" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// names returns the names, under every secret, of the set of kind ("sid" or
// "sub") for value at issuer.
func (n *indexNamer) names(prefix, kind, issuer, value string) []string {
	out := make([]string, len(n.keys))
	for i, k := range n.keys {
		out[i] = n.name(prefix, k, kind, issuer, value)
	}
	return out
}

// current returns the names, under the newest secret, of the sets a session
// bound to id belongs in.
func (n *indexNamer) current(prefix string, id Identity) []string {
	return n.sets(prefix, id, n.keys[:1])
}

// all returns the names, under every secret, of the sets a session bound to
// id may be in.
func (n *indexNamer) all(prefix string, id Identity) []string {
	return n.sets(prefix, id, n.keys)
}

func (n *indexNamer) sets(prefix string, id Identity, keys [][]byte) []string {
	var out []string
	for _, k := range keys {
		if id.SID != "" {
			out = append(out, n.name(prefix, k, "sid", id.Issuer, id.SID))
		}
		if id.Subject != "" {
			out = append(out, n.name(prefix, k, "sub", id.Issuer, id.Subject))
		}
	}
	return out
}

// Bind notes that sess belongs to id. The next Save indexes the session by
// id's SID and subject (and removes it from the sets of an identity it was
// bound to before), for EndSessions; the binding is stored with the session
// and kept by later loads and saves. A zero Identity unbinds it. Bind does no
// I/O; Save fails for an identity with a subject or SID but no issuer.
func (s *RedisStore) Bind(sess *sessions.Session, id Identity) {
	st, _ := s.state.get(sess)
	st.identity = id
	s.state.set(sess, st)
}

// Identity returns the identity sess is bound to, as loaded or set by Bind;
// the zero Identity for an unbound session.
func (s *RedisStore) Identity(sess *sessions.Session) Identity {
	st, _ := s.state.get(sess)
	return st.identity
}

// EndSessions ends every session bound to an identity matching id: id.Issuer
// is required, and the sessions must match each of id.SID and id.Subject that
// is not empty (at least one must be). It deletes their data and removes them
// from the index, so their cookies are refused from then on, on every replica
// sharing the Redis, and a request that loaded one earlier cannot save it back.
// This is what an OpenID Connect back-channel logout asks for: a logout
// token's sid and sub claims (either may be missing) and its issuer.
//
// It returns the number of sessions ended. It makes two round trips, each
// bounded by OpTimeout: one to read the index, one to delete, in a
// transaction. A session bound to id while it runs may survive it.
func (s *RedisStore) EndSessions(ctx context.Context, id Identity) (int, error) {
	if id.Issuer == "" || (id.SID == "" && id.Subject == "") {
		return 0, errors.New("session: EndSessions needs an issuer, and a SID or a subject")
	}
	var groups [][]string // the names of one set under every secret
	if id.SID != "" {
		groups = append(groups, s.index.names(s.keyPrefix, "sid", id.Issuer, id.SID))
	}
	if id.Subject != "" {
		groups = append(groups, s.index.names(s.keyPrefix, "sub", id.Issuer, id.Subject))
	}
	ids, err := s.members(ctx, groups)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	keys := make([]string, len(ids))
	members := make([]any, len(ids))
	for i, id := range ids {
		keys[i], members[i] = s.dataKey(id), id
	}
	n, err := call(ctx, s.opTimeout, "end sessions", func(ctx context.Context) (int64, error) {
		var del *redis.IntCmd
		_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			del = p.Del(ctx, keys...)
			for _, g := range groups {
				for _, k := range g {
					p.SRem(ctx, k, members...)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		return del.Val(), nil
	})
	return int(n), err
}

// members returns the session IDs that are in each group of sets, in any of
// the group's sets.
func (s *RedisStore) members(ctx context.Context, groups [][]string) ([]string, error) {
	cmds, err := call(ctx, s.opTimeout, "read session index", func(ctx context.Context) ([]redis.Cmder, error) {
		return s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, g := range groups {
				for _, k := range g {
					p.SMembers(ctx, k)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	var found map[string]bool
	for _, g := range groups {
		in := map[string]bool{}
		for range g {
			for _, id := range cmds[0].(*redis.StringSliceCmd).Val() {
				if validID(id) && (found == nil || found[id]) {
					in[id] = true
				}
			}
			cmds = cmds[1:]
		}
		found = in
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	return ids, nil
}
