package till

import (
	"testing"
	"time"
)

// FuzzSnapshot feeds the agent's snapshot decoder and the offline checks
// arbitrary bytes: a snapshot comes over the network, and codes from
// anyone's printer.
func FuzzSnapshot(f *testing.F) {
	f.Add([]byte(`{"merchant":"bakery-1","public_keyset":{"primaryKeyId":1,"key":[]},"keys":[{"id":1,"state":"active"}],"blocked":["00"]}`), "SS1:ABC")
	f.Add([]byte(`{}`), "")
	f.Add([]byte(`{"policy":{"batches":[{"id":"b","serials":["x"],"policy":{"allowed":true}}]}}`), "SS1:")
	f.Fuzz(func(t *testing.T, raw []byte, code string) {
		v, err := newView(raw, time.Now())
		if err != nil {
			return
		}
		if c, ref := v.check(code, time.Now()); ref == nil && c == nil {
			t.Errorf("check(%q) passed without a code", code)
		}
	})
}
