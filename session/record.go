package session

import (
	"encoding/binary"
	"fmt"
)

// The plaintext a RedisStore seals under a session's data key is
//
//	issuer | subject | SID | payload
//
// with each Identity field as a uvarint length and its bytes, and the payload
// as sealed in a cookie (times, ID, gob-encoded Values). The identity travels
// with the session so that Save keeps its index entries and Delete removes them.
type record struct {
	identity Identity
	payload  payload
}

func (r record) marshal() ([]byte, error) {
	p, err := r.payload.marshal()
	if err != nil {
		return nil, err
	}
	id := r.identity
	b := make([]byte, 0, 3*binary.MaxVarintLen64+len(id.Issuer)+len(id.Subject)+len(id.SID)+len(p))
	for _, f := range []string{id.Issuer, id.Subject, id.SID} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return append(b, p...), nil
}

func unmarshalRecord(b []byte) (record, error) {
	var fields [3]string
	for i := range fields {
		n, size := binary.Uvarint(b)
		if size <= 0 || n > uint64(len(b)-size) {
			return record{}, fmt.Errorf("%w: malformed session record", ErrInvalid)
		}
		fields[i] = string(b[size : size+int(n)])
		b = b[size+int(n):]
	}
	p, err := unmarshalPayload(b)
	if err != nil {
		return record{}, err
	}
	return record{identity: Identity{Issuer: fields[0], Subject: fields[1], SID: fields[2]}, payload: p}, nil
}
