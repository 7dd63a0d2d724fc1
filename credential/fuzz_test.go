package credential

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// realCodes were issued by a stampseal server (a coupon with three uses, a
// stamp card and a punch of two stamps); Parse does not check signatures,
// so they stay good seeds under any key.
var realCodes = []string{
	"SS1:Y8H$8D9EC5$CGEFOA6FRSD/EX482.3FAJU-RX5A:X4DF3+M0$ET-C3M71EAG4H0/73EISO*GYEOYERA%S8%Q.854.NNJJ YR4R41A12E4:/R%5SLUSFX5TU4XGNY%A3SAOPVEC7T9MESGJT9VVFD3L/LPR4S/O6P:21UE",
	"SS1:W8H$8D9EC5$CGEFOA6MLMCG4+YNG%A%O70XEECU/PLDF3+M0$ETC20UPCO.C$ C100/73EIS88SVVO3 HJVO%B1 WFLACWR2BII2PIJD49JO%LR02UUE3A*GUB3GJBT75JGD%JF K1N156GKO5TB0CNOAFOP+E8+XTC55Y49",
	"SS1:X8H$8D9EC5$CGEFOA6Q0ECDQHLU49RQ$D6F9W I3 8DF3+M0$ET-C3MM0KAGUPCO.C$ CIB0/73EISJ82Y.E5U0*NFT77-:SRBN6XP49O0EGJKS-9VSDG36OPV7 P66LR/92CMRBFR42EDE9P*GCQVR%5MNQXA3*-HEGMG 3:MPD1D",
}

// FuzzParse checks that every input either fails with ErrMalformed or is a
// code that re-encodes to exactly the same text (one code per claim set).
func FuzzParse(f *testing.F) {
	for _, c := range realCodes {
		f.Add(c)
		f.Add(c[:len(c)-3])
		f.Add(strings.ToLower(c))
		f.Add(c + "A")
	}
	for _, s := range []string{"", "SS1:", "SS2:" + realCodes[0][4:], "SS1:%69 VD92EX0", strings.Repeat("9", MaxCodeLen+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", text, err)
			}
			if c != nil {
				t.Fatalf("Parse(%q) returned a code with an error", text)
			}
			return
		}
		if !bytes.HasPrefix(c.Signed, []byte(signingContext)) {
			t.Fatalf("Parse(%q): signed input lacks the signing context", text)
		}
		claims := c.Signed[len(signingContext):]
		if again, err := c.Claims.Marshal(); err != nil || !bytes.Equal(again, claims) {
			t.Fatalf("Parse(%q): claims re-marshal to %x (%v), want %x", text, again, err, claims)
		}
		if got := Encode(claims, c.Signature); got != text {
			t.Fatalf("Parse(%q) round-trips to %q", text, got)
		}
		if err := c.Claims.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted claims that do not validate: %v", text, err)
		}
	})
}
