package middleware

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonTexts are JSON texts, good and bad, on which readObject must agree
// with json.Unmarshal into a map[string]any.
var jsonTexts = []string{
	// Objects it accepts.
	`{}`,
	` {} `,
	"\t\r\n{\t\r\n}\t\r\n",
	`{"a":1}`,
	`{"a" : 1 , "b" : "x"}`,
	`{"a":"plain","b":"esc\"aped\\","c":"\u00e9\ud83d\ude00","d":"\/\b\f\n\r\t"}`,
	`{"a":"é","b":"` + "\xff\xfe" + `","c":"\ud800","d":"` + "\xed\xa0\x80" + `"}`,
	`{"a":true,"b":false,"c":null}`,
	`{"a":[],"b":{},"c":[1,[2,[3,{}]]],"d":{"e":{"f":[null,true,"x"]}}}`,
	`{"a":[ 1 , 2 ],"b":{ "c" : [ ] , "d" : { } }}`,
	`{"n":0,"m":-0,"o":1.5,"p":-1.5e-3,"q":1E+2,"r":12345678901234567890,"s":1e-400,"t":4.9e-324}`,
	`{"big":1.7976931348623157e308,"neg":-1.7976931348623157e308}`,
	`{"digits":` + strings.Repeat("9", 300) + `}`,
	`{"digits":` + strings.Repeat("9", 308) + `}`,
	`{"a":1,"a":"again","a":[3]}`,
	`{"\u0069ss":"escaped name","ISS":"other case","iss":"last"}`,
	`{"":"empty name"}`,
	`{"deep":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`,
	`{"deep":` + strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000) + `}`,

	// Texts it refuses.
	``,
	` `,
	`null`,
	`[]`,
	`"string"`,
	`1`,
	`true`,
	"\xef\xbb\xbf{}", // byte order mark
	`{`,
	`}`,
	`{"a"}`,
	`{"a":}`,
	`{"a" 1}`,
	`{a:1}`,
	`{'a':1}`,
	`{"a":1,}`,
	`{,"a":1}`,
	`{"a":1 "b":2}`,
	`{"a":1}{}`,
	`{"a":1} x`,
	`{"a":[1,]}`,
	`{"a":[,1]}`,
	`{"a":[1 2]}`,
	`{"a":{"b"}}`,
	`{"a":{"b":1,}}`,
	`{"a":{1:2}}`,
	`{"a":[}`,
	`{"a":{]}`,
	`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 99) + `}`,
	`{"a":tru}`,
	`{"a":True}`,
	`{"a":nul}`,
	`{"a":nulll}`,
	`{"a":falsee}`,
	`{"a":01}`,
	`{"a":-01}`,
	`{"a":1.}`,
	`{"a":.5}`,
	`{"a":+1}`,
	`{"a":-}`,
	`{"a":1e}`,
	`{"a":1e+}`,
	`{"a":1.5e-}`,
	`{"a":0x10}`,
	`{"a":NaN}`,
	`{"a":Infinity}`,
	`{"a":1e400}`,
	`{"a":-1e400}`,
	`{"a":[1,{"b":1e309}]}`,
	`{"a":` + strings.Repeat("9", 309) + `}`,
	`{"a":1.7976931348623159e308}`,
	`{"a":"unterminated}`,
	`{"a":"tab` + "\t" + `"}`,
	`{"a":"newline` + "\n" + `"}`,
	`{"a":"nul` + "\x00" + `"}`,
	`{"a":"bad escape \x"}`,
	`{"a":"bad escape \u12G4"}`,
	`{"a":"short escape \u12"}`,
	`{"a":"trailing backslash\`,
	`{"a` + "\x01" + `":1}`,
	`{"a":"x"` + "\x00" + `}`,
}

// TestReadObjectMatchesEncodingJSON: readObject accepts what
// json.Unmarshal accepts into a map[string]any, and decodeMap builds the
// same map.
func TestReadObjectMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, text := range jsonTexts {
		checkAgainstEncodingJSON(t, text)
	}
}

func checkAgainstEncodingJSON(t *testing.T, text string) {
	t.Helper()
	var want map[string]any
	err := json.Unmarshal([]byte(text), &want)
	wantOK := err == nil && want != nil
	if ok := readObject(text, func(string, string) {}); ok != wantOK {
		t.Fatalf("readObject(%.80q) = %v; json.Unmarshal: %v, %v", text, ok, err, want)
	}
	got := decodeMap(text, 0)
	if (got != nil) != wantOK || (wantOK && !reflect.DeepEqual(got, want)) {
		t.Fatalf("decodeMap(%.80q) = %v, want %v", text, got, want)
	}
}

// FuzzReadObject compares readObject and decodeMap with encoding/json.
func FuzzReadObject(f *testing.F) {
	for _, text := range jsonTexts {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > maxTokenBytes { // encoding/json's depth limit could then differ
			return
		}
		checkAgainstEncodingJSON(t, text)
	})
}

// TestReadObjectMembers: names are unescaped and case-sensitive, values
// are their exact JSON texts, and every member is reported in order,
// duplicates included.
func TestReadObjectMembers(t *testing.T) {
	t.Parallel()
	text := ` { "alg" : "RS256" , "ALG":"none", "\u0061lg" : [ 1, {"b":2} ] ,"x":-1.5e3,"alg":null } `
	var got []string
	if !readObject(text, func(name, value string) { got = append(got, name+"="+value) }) {
		t.Fatal("refused")
	}
	want := []string{`alg="RS256"`, `ALG="none"`, `alg=[ 1, {"b":2} ]`, `x=-1.5e3`, `alg=null`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
}

func TestJSONValues(t *testing.T) {
	t.Parallel()
	strs := []struct {
		text string
		want string
		ok   bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"a\"b\\c\/d\n"`, "a\"b\\c/d\n", true},
		{`"\u00e9\u0041"`, "éA", true},
		{`"` + "\xff" + `"`, "\ufffd", true},
		{`"é"`, "é", true},
		{`1`, "", false},
		{`null`, "", false},
		{`["a"]`, "", false},
		{``, "", false},
	}
	for _, tc := range strs {
		if got, ok := jsonString(tc.text); got != tc.want || ok != tc.ok {
			t.Errorf("jsonString(%q) = %q, %v; want %q, %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
	nums := []struct {
		text string
		want float64
		ok   bool
	}{
		{`0`, 0, true},
		{`1763715000`, 1763715000, true},
		{`-1.25`, -1.25, true},
		{`1e3`, 1000, true},
		{`"1"`, 0, false},
		{`true`, 0, false},
		{`null`, 0, false},
		{``, 0, false},
	}
	for _, tc := range nums {
		if got, ok := jsonNumber(tc.text); got != tc.want || ok != tc.ok {
			t.Errorf("jsonNumber(%q) = %v, %v; want %v, %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
	lists := []struct {
		text string
		want []string
		ok   bool
	}{
		{`[]`, []string{}, true},
		{`[ ]`, []string{}, true},
		{`["a"]`, []string{"a"}, true},
		{`[ "a" , "b\u0063" ]`, []string{"a", "bc"}, true},
		{`["a",1]`, nil, false},
		{`[null]`, nil, false},
		{`[["a"]]`, nil, false},
		{`"a"`, nil, false},
		{`{}`, nil, false},
	}
	for _, tc := range lists {
		if got, ok := jsonStrings(tc.text); !reflect.DeepEqual(got, tc.want) || ok != tc.ok {
			t.Errorf("jsonStrings(%q) = %q, %v; want %q, %v", tc.text, got, ok, tc.want, tc.ok)
		}
	}
}
