package verify

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// Entry is one event in a credential's history.
type Entry struct {
	At       time.Time `json:"at"`
	Op       string    `json:"op"` // stamp, claim, redeem, reward
	Register string    `json:"register,omitempty"`
	Stamps   int       `json:"stamps,omitempty"`
	Source   string    `json:"source,omitempty"` // for stamps: "register" or "punch"
	Punch    string    `json:"punch,omitempty"`  // serial of the punch claimed
	Card     string    `json:"card,omitempty"`   // for a punch: the card it went onto
	Reward   string    `json:"reward,omitempty"` // serial of a reward coupon earned
}

// maxHistory bounds how many entries a status answer lists (newest kept).
const maxHistory = 200

func appendHistory(tx storage.Tx, serial credential.Serial, e Entry) error {
	seq, err := tx.Sequence(storage.History)
	if err != nil {
		return err
	}
	key := binary.BigEndian.AppendUint64(append([]byte(nil), serial[:]...), seq)
	return storage.PutJSON(tx, storage.History, key, e)
}

func readHistory(tx storage.Tx, serial credential.Serial) ([]Entry, error) {
	var out []Entry
	err := tx.Scan(storage.History, serial[:], func(_, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if len(out) > maxHistory {
		out = out[len(out)-maxHistory:]
	}
	return out, err
}
