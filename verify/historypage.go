package verify

import (
	"errors"
	"strconv"

	"github.com/stampseal/stampseal/storage"
)

// MaxHistoryPage bounds how many history entries one status answer lists.
const MaxHistoryPage = 1000

// ErrBadCursor is returned for a history cursor this ledger did not hand out.
var ErrBadCursor = errors.New("history cursor not recognised")

// HistoryPage selects part of a credential's history: the newest Limit
// entries (0: the default of 200) older than the entry Before names. Before
// is a cursor from an earlier answer's Next, opaque to clients.
type HistoryPage struct {
	Limit  int
	Before string
}

// page lists the newest events of t older than p.Before, oldest first, and
// the cursor of the next (older) page, empty when there is none. Events of
// one serial link back through Prev, so the walk touches only its events.
func page(tx storage.Tx, t trail, p HistoryPage) ([]Entry, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = maxHistory
	}
	var before uint64
	if p.Before != "" {
		n, err := strconv.ParseUint(p.Before, 10, 64)
		if err != nil || n == 0 {
			return nil, "", ErrBadCursor
		}
		before = n
	}
	var out []Entry
	seq := t.last
	for seq != 0 && before != 0 && seq >= before {
		e, err := readEvent(tx, seq)
		if err != nil {
			return nil, "", err
		}
		seq = e.Prev
	}
	var next string
	for seq != 0 {
		if len(out) == limit {
			next = strconv.FormatUint(seq+1, 10)
			break
		}
		e, err := readEvent(tx, seq)
		if err != nil {
			return nil, "", err
		}
		if named(&e) {
			e.Entry.ID = eventID(e.Serial, seq)
		}
		out = append(out, e.Entry)
		seq = e.Prev
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, next, nil
}
