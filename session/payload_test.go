package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	values, err := encodeValues(map[any]any{"k": "v", 1: []any{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	want := payload{
		id:     "id",
		times:  times{created: time.Unix(1700000000, 0), saved: time.Unix(1700000100, 0)},
		values: values,
	}
	b, err := want.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalPayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.id != want.id || !got.times.created.Equal(want.times.created) || !got.times.saved.Equal(want.times.saved) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	decoded, err := decodeValues(got.values)
	if err != nil || decoded["k"] != "v" || len(decoded[1].([]any)) != 1 {
		t.Fatalf("decoded %v, %v", decoded, err)
	}
}

func TestPayloadRejects(t *testing.T) {
	t.Parallel()
	if _, err := (payload{id: strings.Repeat("x", maxIDSize+1)}).marshal(); err == nil {
		t.Error("marshal accepted an ID over 255 bytes")
	}
	b, err := payload{id: "0123456789"}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	for n := range timesSize + 1 + 10 {
		if _, err := unmarshalPayload(b[:n]); !errors.Is(err, ErrInvalid) {
			t.Errorf("truncated to %d: got %v, want ErrInvalid", n, err)
		}
	}
	if _, err := decodeValues([]byte("not gob")); !errors.Is(err, ErrInvalid) {
		t.Errorf("decodeValues of garbage: got %v, want ErrInvalid", err)
	}
}

func TestEncodeNilValues(t *testing.T) {
	t.Parallel()
	b, err := encodeValues(nil)
	if err != nil {
		t.Fatal(err)
	}
	values, err := decodeValues(b)
	if err != nil || values == nil || len(values) != 0 {
		t.Fatalf("got %v, %v; want an empty map", values, err)
	}
}
