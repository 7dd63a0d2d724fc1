package verify

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/stampseal/stampseal/credential"
)

// On a shared backend a transaction that read a serial's record fails and
// is run again when another writer changed the record first, so many
// requests about one card at once (a queue of tills) would mostly fail
// each other. Within one node they take turns instead: the backend then
// sees at most one transaction per serial per node. Correctness does not
// depend on it; the transactions do.

// turnStripes is how many locks the serials share; two serials of one
// stripe take turns too, rarely, and only on the same node.
const turnStripes = 1024

type turns [turnStripes]sync.Mutex

// turn waits for this node's turn at serials and returns the function that
// ends it. On a single writer (bbolt) it does nothing.
func (v *Verifier) turn(serials ...credential.Serial) func() {
	if v.idx != nil || len(serials) == 0 {
		return func() {}
	}
	var stripes []int
	for _, s := range serials {
		if s == (credential.Serial{}) {
			continue
		}
		stripes = append(stripes, int(binary.BigEndian.Uint16(s[:2]))%turnStripes)
	}
	slices.Sort(stripes) // one order for all: no deadlock between a claim's card and punch
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		v.turns[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			v.turns[i].Unlock()
		}
	}
}

// serialOf is the serial an event id names, or zero.
func serialOf(id string) credential.Serial {
	s, _, err := parseEventID(id)
	if err != nil {
		return credential.Serial{}
	}
	return s
}
