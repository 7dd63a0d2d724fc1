package shortcode

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var canonicalRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

// valid returns the canonical code for the 11 data values in data.
func valid(data []byte) string {
	v := append(append([]byte(nil), data[:dataLen]...), checkSymbol(data[:dataLen]))
	return format(v)
}

// values decodes a canonical code back to its 12 symbol values.
func values(t *testing.T, code string) []byte {
	t.Helper()
	var v []byte
	for i := 0; i < len(code); i++ {
		if code[i] == '-' {
			continue
		}
		v = append(v, byte(value[code[i]]))
	}
	if len(v) != codeLen {
		t.Fatalf("values(%q): got %d symbols, want %d", code, len(v), codeLen)
	}
	return v
}

// bases are a few data patterns the exhaustive tests start from.
var bases = [][]byte{
	make([]byte, dataLen),
	{31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31},
	{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
	{20, 0, 17, 9, 31, 4, 26, 13, 2, 30, 8},
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		code, err := New()
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if !canonicalRE.MatchString(code) {
			t.Fatalf("New() = %q, not in canonical form", code)
		}
		got, err := Parse(code)
		if err != nil || got != code {
			t.Fatalf("Parse(New()=%q) = %q, %v; want the same code, nil", code, got, err)
		}
		if seen[code] {
			t.Fatalf("New returned %q twice in 1000 calls", code)
		}
		seen[code] = true
	}
}

func TestParse(t *testing.T) {
	code := valid(bases[3])
	ones := valid([]byte{0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1})
	compact := code[0:4] + code[5:9] + code[10:14]
	tests := map[string]struct {
		in      string
		want    string
		wantErr error
	}{
		"canonical code parses to itself":                  {in: code, want: code},
		"compact code without dashes is formatted":         {in: compact, want: code},
		"lower case with spaces and padding is normalised": {in: "  " + lowerSpaced(compact) + "\n", want: code},
		"letters O I L read as 0 1 1": {
			in:   aliased(ones),
			want: ones,
		},
		"empty input is malformed":                 {in: "", wantErr: ErrMalformed},
		"eleven symbols are malformed":             {in: compact[:11], wantErr: ErrMalformed},
		"thirteen symbols are malformed":           {in: compact + "0", wantErr: ErrMalformed},
		"letter U is not in the alphabet":          {in: "U" + compact[1:], wantErr: ErrMalformed},
		"punctuation other than dash is malformed": {in: compact[:4] + "." + compact[4:], wantErr: ErrMalformed},
		"non-ASCII input is malformed":             {in: "é" + compact[2:], wantErr: ErrMalformed},
		"very long input is malformed":             {in: string(bytes.Repeat([]byte("-"), 1000)) + compact, wantErr: ErrMalformed},
		"one wrong symbol fails the check":         {in: flip(compact, 5), wantErr: ErrBadCheck},
		"two swapped neighbours fail the check":    {in: swap(compact, 2), wantErr: ErrBadCheck},
		"wrong check symbol fails the check":       {in: flip(compact, 11), wantErr: ErrBadCheck},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func lowerSpaced(s string) string {
	b := []byte{}
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]|0x20)
		if i%3 == 2 {
			b = append(b, ' ')
		}
	}
	return string(b)
}

// aliased writes 0 as O and 1 alternately as I and L.
func aliased(s string) string {
	b := []byte(s)
	n := 0
	for i, c := range b {
		switch c {
		case '0':
			b[i] = 'O'
		case '1':
			b[i] = "IL"[n%2]
			n++
		}
	}
	return string(b)
}

// flip changes the symbol at position i of a compact code.
func flip(s string, i int) string {
	b := []byte(s)
	b[i] = alphabet[(value[b[i]]+1)%32]
	return string(b)
}

// swap exchanges the symbols at positions i and i+1 of a compact code.
func swap(s string, i int) string {
	b := []byte(s)
	b[i], b[i+1] = b[i+1], b[i]
	return string(b)
}

// TestCheckCatchesEverySubstitution tries every other symbol at every
// position, check symbol included.
func TestCheckCatchesEverySubstitution(t *testing.T) {
	for _, base := range bases {
		v := values(t, valid(base))
		for pos := range codeLen {
			for s := range byte(32) {
				if s == v[pos] {
					continue
				}
				typo := append([]byte(nil), v...)
				typo[pos] = s
				if _, err := Parse(format(typo)); !errors.Is(err, ErrBadCheck) {
					t.Fatalf("base %v: symbol %d at position %d changed to %d: got %v, want ErrBadCheck", base, v[pos], pos, s, err)
				}
			}
		}
	}
}

// TestCheckCatchesEveryAdjacentTransposition builds, for every neighbouring
// pair of positions and every ordered pair of distinct symbols a, b, a valid
// code holding a, b there, then swaps them.
func TestCheckCatchesEveryAdjacentTransposition(t *testing.T) {
	for _, base := range bases {
		for pos := 0; pos+1 < codeLen; pos++ {
			for a := range byte(32) {
				for b := range byte(32) {
					if a == b {
						continue
					}
					v, ok := withPair(base, pos, a, b)
					if !ok {
						t.Fatalf("no valid code with %d,%d at position %d", a, b, pos)
					}
					v[pos], v[pos+1] = v[pos+1], v[pos]
					if _, err := Parse(format(v)); !errors.Is(err, ErrBadCheck) {
						t.Fatalf("base %v: swapping %d,%d at positions %d,%d: got %v, want ErrBadCheck", base, a, b, pos, pos+1, err)
					}
				}
			}
		}
	}
}

// withPair returns valid code values with a at pos and b at pos+1. When
// pos+1 is the check position, symbol 0 is searched to make the check b.
func withPair(base []byte, pos int, a, b byte) ([]byte, bool) {
	v := make([]byte, codeLen)
	copy(v, base)
	v[pos] = a
	if pos+1 < dataLen {
		v[pos+1] = b
		v[dataLen] = checkSymbol(v[:dataLen])
		return v, true
	}
	for s := range byte(32) {
		v[0] = s
		if checkSymbol(v[:dataLen]) == b {
			v[dataLen] = b
			return v, true
		}
	}
	return nil, false
}

func TestHash(t *testing.T) {
	code := valid(bases[2])
	tests := map[string]struct {
		a, b  []byte
		equal bool
	}{
		"same secret and code give the same hash": {Hash([]byte("k1"), code), Hash([]byte("k1"), code), true},
		"another secret gives another hash":       {Hash([]byte("k1"), code), Hash([]byte("k2"), code), false},
		"another code gives another hash":         {Hash([]byte("k1"), code), Hash([]byte("k1"), valid(bases[3])), false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if len(tt.a) != 32 {
				t.Fatalf("hash length = %d, want 32", len(tt.a))
			}
			if got := bytes.Equal(tt.a, tt.b); got != tt.equal {
				t.Errorf("equal = %v, want %v", got, tt.equal)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	code := lowerSpaced(valid(bases[3]))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(code); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts is
// canonical and parses to itself. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(valid(bases[0]))
	f.Add("k7qf 3mz9 w2xd")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadCheck) {
				t.Fatalf("Parse(%q) error %v is neither ErrMalformed nor ErrBadCheck", in, err)
			}
			return
		}
		if !canonicalRE.MatchString(got) {
			t.Fatalf("Parse(%q) = %q, not canonical", in, got)
		}
		again, err := Parse(got)
		if err != nil || again != got {
			t.Fatalf("Parse(Parse(%q)=%q) = %q, %v; want it unchanged", in, got, again, err)
		}
	})
}

func TestKeyedDerivesStableParsableCodes(t *testing.T) {
	k, err := NewKeyed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKeyed(bytes.Repeat([]byte{8}, 32))
	serial := []byte("0123456789abcdef")
	code := k.Derive(serial)
	if again := k.Derive(serial); again != code {
		t.Errorf("Derive is not stable: %s then %s", code, again)
	}
	if got, err := Parse(code); err != nil || got != code {
		t.Errorf("Parse(Derive) = %q, %v; want %q", got, err, code)
	}
	if other.Derive(serial) == code {
		t.Error("two secrets derive the same short code")
	}
	key1, err1 := k.LookupKey(strings.ToLower(strings.ReplaceAll(code, "-", " ")))
	key2, err2 := k.LookupKey(code)
	if err1 != nil || err2 != nil || !bytes.Equal(key1, key2) {
		t.Errorf("spellings of one code look up differently: %v %v", err1, err2)
	}
	typo := []byte(code)
	typo[0] = alphabet[(value[typo[0]]+1)%32]
	if _, err := k.LookupKey(string(typo)); !errors.Is(err, ErrBadCheck) {
		t.Errorf("LookupKey of a typo = %v, want ErrBadCheck", err)
	}
}
