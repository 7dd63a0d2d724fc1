package credential

import (
	"bytes"
	"testing"
)

func TestBase45RFC9285Vectors(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	} {
		if got := string(encodeBase45(nil, []byte(tc.in))); got != tc.out {
			t.Errorf("encode(%q) = %q, want %q", tc.in, got, tc.out)
		}
		got, err := decodeBase45(tc.out)
		if err != nil || string(got) != tc.in {
			t.Errorf("decode(%q) = %q, %v; want %q", tc.out, got, err, tc.in)
		}
	}
}

func TestBase45RefusesNonCanonicalInput(t *testing.T) {
	for _, s := range []string{"GGW", "A", "ab", "BB8A", "::", "BB\x00"} {
		if got, err := decodeBase45(s); err == nil {
			t.Errorf("decode(%q) = %x, want an error", s, got)
		}
	}
}

func TestBase45RoundTripsEveryByte(t *testing.T) {
	src := make([]byte, 257)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for n := 0; n <= len(src); n++ {
		got, err := decodeBase45(string(encodeBase45(nil, src[:n])))
		if err != nil || !bytes.Equal(got, src[:n]) {
			t.Fatalf("round trip of %d bytes failed: %v", n, err)
		}
	}
}
