package session

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"time"
)

// The sealed plaintext is
//
//	created (8 bytes) | last saved (8 bytes) | ID length (1 byte) | ID | Values
//
// with the times as big-endian Unix seconds and Values encoded with encoding/gob,
// as gorilla's securecookie does: types stored in Values must be registered with
// gob.Register. The format version is the first byte of the sealed value.
const (
	timesSize = 16
	maxIDSize = 255
)

// payload is a session as sealed in its cookie; values stays gob-encoded until
// the timeouts have been checked.
type payload struct {
	id     string
	times  times
	values []byte
}

func (p payload) marshal() ([]byte, error) {
	if len(p.id) > maxIDSize {
		return nil, fmt.Errorf("session: session ID is %d bytes, at most %d allowed", len(p.id), maxIDSize)
	}
	b := make([]byte, 0, timesSize+1+len(p.id)+len(p.values))
	b = binary.BigEndian.AppendUint64(b, uint64(p.times.created.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(p.times.saved.Unix()))
	b = append(b, byte(len(p.id)))
	b = append(b, p.id...)
	return append(b, p.values...), nil
}

func unmarshalPayload(b []byte) (payload, error) {
	if len(b) < timesSize+1 {
		return payload{}, fmt.Errorf("%w: payload too short", ErrInvalid)
	}
	var p payload
	p.times.created = time.Unix(int64(binary.BigEndian.Uint64(b[0:8])), 0)
	p.times.saved = time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0)
	idSize := int(b[timesSize])
	b = b[timesSize+1:]
	if len(b) < idSize {
		return payload{}, fmt.Errorf("%w: payload too short", ErrInvalid)
	}
	p.id, p.values = string(b[:idSize]), b[idSize:]
	return p, nil
}

func encodeValues(values map[any]any) ([]byte, error) {
	if values == nil {
		values = map[any]any{}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil {
		return nil, fmt.Errorf("session: encode values: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeValues(b []byte) (map[any]any, error) {
	var values map[any]any
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&values); err != nil {
		return nil, fmt.Errorf("%w: decode values: %w", ErrInvalid, err)
	}
	if values == nil {
		values = map[any]any{}
	}
	return values, nil
}
