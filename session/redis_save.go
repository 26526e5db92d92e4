package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

// saveScript writes a session and its index entries, and deletes the IDs it
// had before, atomically. KEYS[1] is the session's data key; ARGV[1] is "NX"
// for a new ID or "XX" for a stored one, which must still be there (a
// session ended meanwhile stays ended); ARGV[2] is the sealed value, ARGV[3]
// the TTL in milliseconds and ARGV[4] the session ID. Each further key
// KEYS[i] comes with an operation ARGV[3+i]:
//
//	"x"     delete KEYS[i], the data key of a retired ID
//	"-<id>" remove <id> from the index set KEYS[i]
//	"+"     add the session ID to the index set KEYS[i], and make the set
//	        live at least as long as the session
//
// Redis does not roll back a script that fails halfway, so every check comes
// before the first write: the script writes all or nothing. It returns 1, or 0
// when the condition of ARGV[1] does not hold.
var saveScript = redis.NewScript(`
for i = 2, #KEYS do
	if ARGV[3 + i] ~= 'x' then
		local t = redis.call('TYPE', KEYS[i]).ok
		if t ~= 'set' and t ~= 'none' then
			return redis.error_reply('WRONGTYPE session index ' .. KEYS[i] .. ' holds a ' .. t)
		end
	end
end
local ttl = tonumber(ARGV[3])
if not redis.call('SET', KEYS[1], ARGV[2], ARGV[1], 'PX', ttl) then
	return 0
end
for i = 2, #KEYS do
	local op = ARGV[3 + i]
	if op == '+' then
		redis.call('SADD', KEYS[i], ARGV[4])
		if redis.call('PTTL', KEYS[i]) < ttl then
			redis.call('PEXPIRE', KEYS[i], ttl)
		end
	elseif op == 'x' then
		redis.call('DEL', KEYS[i])
	else
		redis.call('SREM', KEYS[i], string.sub(op, 2))
	end
end
return 1
`)

// Save stores sess in Redis and writes its cookie: the session ID and its
// MAC, with a Max-Age of the session's remaining absolute lifetime. It
// records the save as the session's last activity and sets the key's TTL to
// the session's remaining lifetime. A session whose Options.MaxAge is
// negative is deleted instead (see Delete).
//
// The ID must be the one the store gave the session (by New, Get or
// Rotate); an empty ID asks for a new one, as Rotate does. A session loaded
// from Redis is saved only if it is still there: one ended meanwhile by
// Delete or EndSessions, or timed out, is not brought back (ErrExpired).
//
// Save writes no cookie when it fails: ErrExpired for a session past its
// absolute timeout or ended, ErrUnavailable when Redis could not be asked
// (the script writes all or nothing), or an encoding error for a value whose
// type is not registered with gob.Register.
func (s *RedisStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if err := checkName(sess.Name()); err != nil {
		return err
	}
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		return s.end(r, w, sess)
	}
	st, err := s.saveState(sess)
	if err != nil {
		return err
	}
	now := s.cfg.now()
	if st.times.created.IsZero() {
		st.times.created = now
	}
	if err := s.cfg.checkTimeouts(st.times, now, false); err != nil {
		return err
	}
	st.times.saved = now
	if err := st.identity.check(); err != nil {
		return err
	}
	values, err := encodeValues(sess.Values)
	if err != nil {
		return err
	}
	plaintext, err := record{identity: st.identity, payload: payload{id: st.id, times: st.times, values: values}}.marshal()
	if err != nil {
		return err
	}
	if err := s.write(contextOf(r), st, s.sealer.seal(s.dataKey(st.id), plaintext), s.cfg.remaining(st.times, now)); err != nil {
		return err
	}
	st.stored, st.storedIdentity, st.retired = true, st.identity, nil
	s.state.set(sess, st)
	name := s.cookieName(sess.Name())
	maxAge := int(st.times.created.Add(s.cfg.AbsoluteTimeout).Sub(now) / time.Second)
	http.SetCookie(w, s.cfg.cookie(name, s.ids.encode(name, st.id), maxAge))
	return nil
}

// saveState returns the state sess is saved with, checking its ID.
func (s *RedisStore) saveState(sess *sessions.Session) (redisState, error) {
	st, _ := s.state.get(sess)
	switch {
	case st.id != "" && sess.ID == st.id:
		// The ID the store gave it.
	case sess.ID == "" && st.stored:
		s.Rotate(sess)
		st, _ = s.state.get(sess)
	case sess.ID == "":
		sess.ID = newID()
	case st.id == "" && validID(sess.ID):
		// A new session from New; it is stored only if the ID is free.
	case st.id == "":
		return st, errors.New("session: session ID was not made by this store")
	default:
		return st, errors.New("session: session ID changed: use Rotate to change it")
	}
	st.id = sess.ID
	return st, nil
}

// write runs saveScript for the session in state st: its sealed value,
// lasting ttl, its index entries, and the deletion of its retired IDs.
func (s *RedisStore) write(ctx context.Context, st redisState, sealed []byte, ttl time.Duration) error {
	mode := "NX"
	if st.stored {
		mode = "XX"
	}
	keys := []string{s.dataKey(st.id)}
	args := []any{mode, sealed, ttl.Milliseconds(), st.id}
	op := func(key, op string) {
		keys = append(keys, key)
		args = append(args, op)
	}
	for _, old := range st.retired {
		op(s.dataKey(old.id), "x")
		for _, k := range s.index.all(s.keyPrefix, old.identity) {
			op(k, "-"+old.id)
		}
	}
	if st.stored && st.storedIdentity != st.identity {
		for _, k := range s.index.all(s.keyPrefix, st.storedIdentity) {
			op(k, "-"+st.id)
		}
	}
	for _, k := range s.index.current(s.keyPrefix, st.identity) {
		op(k, "+")
	}
	written, err := call(ctx, s.opTimeout, "save session", func(ctx context.Context) (int64, error) {
		return saveScript.Run(ctx, s.client, keys, args...).Int64()
	})
	switch {
	case err != nil:
		return err
	case written == 0:
		return fmt.Errorf("%w: ended or timed out in Redis before this save", ErrExpired)
	}
	return nil
}

// Delete ends sess: it deletes its data and index entries from Redis (and
// those of the IDs Rotate took from it, and of the session whose ID r's
// cookie holds), empties its Values, clears its ID and sets its
// Options.MaxAge to -1 (so a later sessions.Save deletes it again rather than
// restoring it), and expires its cookie. It expires the cookie even when
// Redis could not be asked, and then returns ErrUnavailable: the browser
// forgets the session, but a copy of its cookie works until it times out.
func (s *RedisStore) Delete(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options == nil {
		sess.Options = &sessions.Options{}
	}
	sess.Options.MaxAge = -1
	clear(sess.Values)
	return s.Save(r, w, sess)
}

// end deletes sess from Redis and expires its cookie; see Delete.
func (s *RedisStore) end(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	name := s.cookieName(sess.Name())
	st, _ := s.state.get(sess)
	gone := st.retired
	if st.stored {
		gone = append(gone[:len(gone):len(gone)], retired{st.id, st.storedIdentity})
	}
	if c, err := requestCookie(r, name); err == nil {
		id, err := s.ids.decode(name, c.Value)
		if err == nil && !slices.ContainsFunc(gone, func(g retired) bool { return g.id == id }) {
			gone = append(gone, retired{id: id})
		}
	}
	err := s.remove(contextOf(r), gone)
	s.state.delete(sess)
	sess.ID = ""
	http.SetCookie(w, s.cfg.cookie(name, "", -1))
	return err
}

// remove deletes the data and index entries of the sessions in gone, in one
// transaction.
func (s *RedisStore) remove(ctx context.Context, gone []retired) error {
	if len(gone) == 0 {
		return nil
	}
	_, err := call(ctx, s.opTimeout, "delete session", func(ctx context.Context) ([]redis.Cmder, error) {
		return s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, g := range gone {
				p.Del(ctx, s.dataKey(g.id))
				for _, k := range s.index.all(s.keyPrefix, g.identity) {
					p.SRem(ctx, k, g.id)
				}
			}
			return nil
		})
	})
	return err
}

// contextOf returns r's context, or the background context for a nil r.
func contextOf(r *http.Request) context.Context {
	if r == nil {
		return context.Background()
	}
	return r.Context()
}

// requestCookie returns r's first cookie called name.
func requestCookie(r *http.Request, name string) (*http.Cookie, error) {
	if r == nil {
		return nil, http.ErrNoCookie
	}
	return r.Cookie(name)
}
