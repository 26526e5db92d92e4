package session

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Chunk naming. A sealed, base64url-encoded value is written as cookie <name>
// when it fits, and otherwise split in order over <name>, <name>.1, <name>.2, …,
// <name>.<n-1>. The value of <name> always starts with the chunk count n in
// decimal and a dot: "1.AbC…" or "3.AbC…". The count needs no protection of its
// own: the value is sealed before it is split, so a dropped, added, reordered or
// altered chunk, or a changed count, changes the sealed bytes and fails to open.
// Chunks beyond the count (left by an earlier, larger session) are ignored when
// reading and deleted by the next Save.
const (
	// maxCookieValue is the longest cookie value read, whatever the chunk size:
	// no browser stores a longer one.
	maxCookieValue = 4096

	// maxChunksLimit bounds CookieConfig.MaxChunks, and the chunk indexes Save
	// deletes: RFC 6265 only promises 50 cookies per domain.
	maxChunksLimit = 50
)

// chunkName returns the name of chunk i of the cookie called name.
func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "." + strconv.Itoa(i)
}

// chunkIndex reports which chunk of the cookie called name a cookie called
// cookieName is, and false when it is none.
func chunkIndex(name, cookieName string) (int, bool) {
	if cookieName == name {
		return 0, true
	}
	suffix, ok := strings.CutPrefix(cookieName, name+".")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(suffix)
	if err != nil || i < 1 || i >= maxChunksLimit || strconv.Itoa(i) != suffix {
		return 0, false
	}
	return i, true
}

// chunkSet holds the values of the chunk cookies of one session in a request,
// by chunk index. The first cookie of each name wins, as with r.Cookie.
type chunkSet map[int]string

// readChunks collects the chunk cookies of the cookie called name.
func readChunks(r *http.Request, name string) chunkSet {
	set := chunkSet{}
	if r == nil {
		return set
	}
	for _, c := range r.Cookies() {
		if i, ok := chunkIndex(name, c.Name); ok {
			if _, seen := set[i]; !seen {
				set[i] = c.Value
			}
		}
	}
	return set
}

// split cuts value into cookie values of at most chunkSize bytes, the first
// prefixed with the count. It returns false when that takes more than maxChunks.
func split(value string, chunkSize, maxChunks int) ([]string, bool) {
	n := 1
	for len(value) > n*chunkSize-len(countPrefix(n)) {
		if n++; n > maxChunks {
			return nil, false
		}
	}
	head := chunkSize - len(countPrefix(n))
	if head > len(value) {
		head = len(value)
	}
	chunks := make([]string, 0, n)
	chunks = append(chunks, countPrefix(n)+value[:head])
	for rest := value[head:]; rest != ""; {
		m := min(chunkSize, len(rest))
		chunks = append(chunks, rest[:m])
		rest = rest[m:]
	}
	return chunks, true
}

func countPrefix(n int) string {
	return strconv.Itoa(n) + "."
}

// join reassembles the value split over the chunks of set. It returns false when
// the set has no first chunk. Lengths are checked before anything is copied:
// a count over maxChunks, a cookie over maxCookieValue bytes, or chunks adding
// up to more than maxTotal bytes are ErrTooLarge (and ErrInvalid).
func join(set chunkSet, maxChunks, maxTotal int) (string, bool, error) {
	first, ok := set[0]
	if !ok {
		return "", false, nil
	}
	n, first, err := parseCount(first)
	if err != nil {
		return "", true, err
	}
	if n > maxChunks {
		return "", true, overCapError(fmt.Sprintf("%d chunks, at most %d allowed", n, maxChunks))
	}
	total := 0
	for i := range n {
		chunk, ok := set[i]
		if !ok {
			return "", true, fmt.Errorf("%w: chunk %d of %d missing", ErrInvalid, i, n)
		}
		if len(chunk) > maxCookieValue {
			return "", true, overCapError(fmt.Sprintf("chunk %d is %d bytes, at most %d allowed", i, len(chunk), maxCookieValue))
		}
		total += len(chunk)
	}
	if total > maxTotal {
		return "", true, overCapError(fmt.Sprintf("%d bytes in chunks, at most %d allowed", total, maxTotal))
	}
	var b strings.Builder
	b.Grow(total)
	b.WriteString(first)
	for i := 1; i < n; i++ {
		b.WriteString(set[i])
	}
	return b.String(), true, nil
}

// overCapError describes session cookies over the size caps: they are both
// ErrInvalid and ErrTooLarge.
type overCapError string

func (e overCapError) Error() string {
	return "session: invalid session cookie: over the size caps: " + string(e)
}

func (e overCapError) Is(target error) bool {
	return target == ErrInvalid || target == ErrTooLarge
}

// parseCount splits the first chunk into the chunk count and its share of the
// value. The count is a positive decimal written as strconv.Itoa writes it.
func parseCount(first string) (int, string, error) {
	count, rest, ok := strings.Cut(first, ".")
	if !ok {
		return 0, "", fmt.Errorf("%w: malformed chunk count", ErrInvalid)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || strconv.Itoa(n) != count {
		return 0, "", fmt.Errorf("%w: malformed chunk count", ErrInvalid)
	}
	return n, rest, nil
}

// stale returns the indexes in set of the chunks at or beyond keep: those a
// value of keep chunks leaves behind.
func (set chunkSet) stale(keep int) []int {
	var out []int
	for i := range set {
		if i >= keep {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}
