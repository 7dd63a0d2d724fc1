package credential

import "errors"

// Base45 (RFC 9285) packs bytes into the 45 characters a QR code stores in
// alphanumeric mode (5.5 bits each), which makes a code's QR symbol about a
// quarter smaller than base64 in byte mode would. It is written here rather
// than imported because the Go packages for it are unmaintained single-file
// repositories; the RFC's test vectors are in base45_test.go.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

var base45Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

var errBase45 = errors.New("not base45")

// encodeBase45 appends the Base45 form of src to dst.
func encodeBase45(dst, src []byte) []byte {
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		n := int(src[0])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// decodeBase45 reverses encodeBase45, refusing any string that is not the
// canonical encoding of some bytes.
func decodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, errBase45
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for i := 0; i < len(s); i += 3 {
		if len(s)-i == 2 {
			a, b := base45Index[s[i]], base45Index[s[i+1]]
			if a < 0 || b < 0 {
				return nil, errBase45
			}
			n := int(a) + int(b)*45
			if n > 0xff {
				return nil, errBase45
			}
			return append(out, byte(n)), nil
		}
		a, b, c := base45Index[s[i]], base45Index[s[i+1]], base45Index[s[i+2]]
		if a < 0 || b < 0 || c < 0 {
			return nil, errBase45
		}
		n := int(a) + int(b)*45 + int(c)*2025
		if n > 0xffff {
			return nil, errBase45
		}
		out = append(out, byte(n>>8), byte(n))
	}
	return out, nil
}
