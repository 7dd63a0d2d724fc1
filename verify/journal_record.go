package verify

import (
	"time"

	"github.com/stampseal/stampseal/credential"
)

// The journal's own record types: an event as it lies on disk. The answers
// the API gives (Redemption, StampResult, ...) carry JSON tags for HTTP,
// and the CBOR library falls back to JSON tags, so storing them would tie
// the ledger's format to the API's field names. Records number their
// fields, and are converted to and from the answer types here, when an
// event is written (put) and read (readEvent). A field added to an answer
// type breaks the build here until its record says how it is stored.
//
// Ledgers written before these types hold the entry, the remembered
// answers and the reply under the API's JSON names (keys 4 and 10 of an
// event, 3 to 5 of an answer). Those keys are still read, through the
// legacy types below that freeze those names, and never written again.

// eventRecord is an event on disk.
type eventRecord struct {
	Serial   credential.Serial `cbor:"1,keyasint"`
	Prev     uint64            `cbor:"2,keyasint,omitempty"`
	Use      bool              `cbor:"3,keyasint,omitempty"`
	OldEntry *legacyEntry      `cbor:"4,keyasint,omitempty"` // read only
	Answer   *answerRecord     `cbor:"5,keyasint,omitempty"`
	Unuse    bool              `cbor:"6,keyasint,omitempty"`
	Held     *held             `cbor:"7,keyasint,omitempty"`
	Ends     uint64            `cbor:"8,keyasint,omitempty"`
	Voids    uint64            `cbor:"9,keyasint,omitempty"`
	OldReply *legacyReply      `cbor:"10,keyasint,omitempty"` // read only
	Entry    entryRecord       `cbor:"11,keyasint"`
	Reply    *replyRecord      `cbor:"12,keyasint,omitempty"`
}

// entryRecord is an Entry on disk. ID names the event to clients; it is
// derived when read, not stored.
type entryRecord struct {
	At          time.Time `cbor:"1,keyasint"`
	Op          string    `cbor:"2,keyasint"`
	Register    string    `cbor:"3,keyasint,omitempty"`
	Stamps      int       `cbor:"4,keyasint,omitempty"`
	Source      string    `cbor:"5,keyasint,omitempty"`
	Punch       string    `cbor:"6,keyasint,omitempty"`
	Card        string    `cbor:"7,keyasint,omitempty"`
	Reward      string    `cbor:"8,keyasint,omitempty"`
	ID          string    `cbor:"-"`
	Actor       string    `cbor:"9,keyasint,omitempty"`
	Until       time.Time `cbor:"10,keyasint,omitzero"`
	Reservation string    `cbor:"11,keyasint,omitempty"`
	Voids       string    `cbor:"12,keyasint,omitempty"`
	Reason      string    `cbor:"13,keyasint,omitempty"`
}

// answerRecord is a remembered answer on disk: one of its answers is set.
type answerRecord struct {
	Key            answerKey          `cbor:"1,keyasint"`
	Fingerprint    string             `cbor:"2,keyasint"`
	OldRedemption  *legacyRedemption  `cbor:"3,keyasint,omitempty"` // read only
	OldStamp       *legacyStamp       `cbor:"4,keyasint,omitempty"` // read only
	OldReservation *legacyReservation `cbor:"5,keyasint,omitempty"` // read only
	Redemption     *redemptionRecord  `cbor:"6,keyasint,omitempty"`
	Stamp          *stampRecord       `cbor:"7,keyasint,omitempty"`
	Reservation    *reservationRecord `cbor:"8,keyasint,omitempty"`
}

// replyRecord is a reply on disk: one of its answers is set.
type replyRecord struct {
	Redemption *redemptionRecord `cbor:"1,keyasint,omitempty"`
	Void       *voidRecord       `cbor:"2,keyasint,omitempty"`
	StampVoid  *stampVoidRecord  `cbor:"3,keyasint,omitempty"`
	Released   *releasedRecord   `cbor:"4,keyasint,omitempty"`
}

type redemptionRecord struct {
	Redeemed     bool      `cbor:"1,keyasint,omitempty"`
	RedemptionID string    `cbor:"2,keyasint,omitempty"`
	Serial       string    `cbor:"3,keyasint"`
	UsesLeft     int       `cbor:"4,keyasint,omitempty"`
	RedeemedAt   time.Time `cbor:"5,keyasint"`
	Register     string    `cbor:"6,keyasint,omitempty"`
}

// stampRecord is a StampResult on disk. Its rewards keep their serials,
// never their codes, which redeem them: a retry gets the codes back from
// the rewards' sealed records (revealRewards).
type stampRecord struct {
	StampID        string         `cbor:"1,keyasint,omitempty"`
	Serial         string         `cbor:"2,keyasint"`
	Stamps         int            `cbor:"3,keyasint,omitempty"`
	StampsRequired int            `cbor:"4,keyasint,omitempty"`
	StampsTotal    int            `cbor:"5,keyasint,omitempty"`
	Added          int            `cbor:"6,keyasint,omitempty"`
	Rewards        []rewardRecord `cbor:"7,keyasint,omitempty"`
}

type rewardRecord struct {
	Serial  string          `cbor:"1,keyasint"`
	Kind    credential.Kind `cbor:"2,keyasint"`
	Expires time.Time       `cbor:"3,keyasint,omitzero"`
}

type reservationRecord struct {
	ReservationID string    `cbor:"1,keyasint"`
	Serial        string    `cbor:"2,keyasint"`
	ExpiresAt     time.Time `cbor:"3,keyasint"`
	UsesLeft      int       `cbor:"4,keyasint,omitempty"`
	Register      string    `cbor:"5,keyasint,omitempty"`
}

type voidRecord struct {
	Voided       bool      `cbor:"1,keyasint,omitempty"`
	RedemptionID string    `cbor:"2,keyasint"`
	Serial       string    `cbor:"3,keyasint"`
	UsesLeft     int       `cbor:"4,keyasint,omitempty"`
	VoidedAt     time.Time `cbor:"5,keyasint"`
	Reason       string    `cbor:"6,keyasint,omitempty"`
}

type stampVoidRecord struct {
	Voided         bool      `cbor:"1,keyasint,omitempty"`
	StampID        string    `cbor:"2,keyasint"`
	Serial         string    `cbor:"3,keyasint"`
	Stamps         int       `cbor:"4,keyasint,omitempty"`
	StampsTotal    int       `cbor:"5,keyasint,omitempty"`
	TakenBack      int       `cbor:"6,keyasint,omitempty"`
	VoidedAt       time.Time `cbor:"7,keyasint"`
	Reason         string    `cbor:"8,keyasint,omitempty"`
	RewardKept     bool      `cbor:"9,keyasint,omitempty"`
	RewardsRevoked []string  `cbor:"10,keyasint,omitempty"`
}

type releasedRecord struct {
	Released      bool   `cbor:"1,keyasint,omitempty"`
	ReservationID string `cbor:"2,keyasint"`
	Serial        string `cbor:"3,keyasint"`
}

// record is e as it is written.
func (e *event) record() eventRecord {
	r := eventRecord{Serial: e.Serial, Prev: e.Prev, Use: e.Use, Unuse: e.Unuse, Held: e.Held,
		Ends: e.Ends, Voids: e.Voids, Entry: entryRecord(e.Entry)}
	if a := e.Answer; a != nil {
		r.Answer = &answerRecord{Key: a.Key, Fingerprint: a.Fingerprint,
			Redemption:  convert(a.Redemption, func(x Redemption) redemptionRecord { return redemptionRecord(x) }),
			Stamp:       convert(a.Stamp, stampRecordOf),
			Reservation: convert(a.Reservation, func(x Reservation) reservationRecord { return reservationRecord(x) })}
	}
	if p := e.Reply; p != nil {
		r.Reply = &replyRecord{
			Redemption: convert(p.Redemption, func(x Redemption) redemptionRecord { return redemptionRecord(x) }),
			Void:       convert(p.Void, func(x Void) voidRecord { return voidRecord(x) }),
			StampVoid:  convert(p.StampVoid, func(x StampVoid) stampVoidRecord { return stampVoidRecord(x) }),
			Released:   convert(p.Released, func(x Released) releasedRecord { return releasedRecord(x) })}
	}
	return r
}

// event is r as the verifier works with it, whichever format wrote it.
func (r *eventRecord) event() event {
	e := event{Serial: r.Serial, Prev: r.Prev, Use: r.Use, Unuse: r.Unuse, Held: r.Held,
		Ends: r.Ends, Voids: r.Voids, Entry: Entry(r.Entry)}
	if r.OldEntry != nil {
		e.Entry = Entry(*r.OldEntry)
	}
	if a := r.Answer; a != nil {
		e.Answer = &answer{Key: a.Key, Fingerprint: a.Fingerprint,
			Redemption:  convert(a.Redemption, func(x redemptionRecord) Redemption { return Redemption(x) }),
			Stamp:       convert(a.Stamp, stampResultOf),
			Reservation: convert(a.Reservation, func(x reservationRecord) Reservation { return Reservation(x) })}
		if a.OldRedemption != nil {
			e.Answer.Redemption = convert(a.OldRedemption, func(x legacyRedemption) Redemption { return Redemption(x) })
		}
		if a.OldStamp != nil {
			e.Answer.Stamp = convert(a.OldStamp, legacyStamp.result)
		}
		if a.OldReservation != nil {
			e.Answer.Reservation = convert(a.OldReservation, func(x legacyReservation) Reservation { return Reservation(x) })
		}
	}
	switch p, old := r.Reply, r.OldReply; {
	case p != nil:
		e.Reply = &reply{
			Redemption: convert(p.Redemption, func(x redemptionRecord) Redemption { return Redemption(x) }),
			Void:       convert(p.Void, func(x voidRecord) Void { return Void(x) }),
			StampVoid:  convert(p.StampVoid, func(x stampVoidRecord) StampVoid { return StampVoid(x) }),
			Released:   convert(p.Released, func(x releasedRecord) Released { return Released(x) })}
	case old != nil:
		e.Reply = &reply{
			Redemption: convert(old.Redemption, func(x legacyRedemption) Redemption { return Redemption(x) }),
			Void:       convert(old.Void, func(x legacyVoid) Void { return Void(x) }),
			StampVoid:  convert(old.StampVoid, func(x legacyStampVoid) StampVoid { return StampVoid(x) }),
			Released:   convert(old.Released, func(x legacyReleased) Released { return Released(x) })}
	}
	return e
}

// convert applies f to *p, keeping nil as nil.
func convert[T, U any](p *T, f func(T) U) *U {
	if p == nil {
		return nil
	}
	u := f(*p)
	return &u
}

func stampRecordOf(s StampResult) stampRecord {
	r := stampRecord{StampID: s.StampID, Serial: s.Serial, Stamps: s.Stamps, StampsRequired: s.StampsRequired,
		StampsTotal: s.StampsTotal, Added: s.Added}
	for _, w := range s.Rewards {
		r.Rewards = append(r.Rewards, rewardRecord{Serial: w.Serial, Kind: w.Kind, Expires: w.Expires})
	}
	return r
}

func stampResultOf(r stampRecord) StampResult {
	s := StampResult{StampID: r.StampID, Serial: r.Serial, Stamps: r.Stamps, StampsRequired: r.StampsRequired,
		StampsTotal: r.StampsTotal, Added: r.Added, Rewards: []credential.Issued{}}
	for _, w := range r.Rewards {
		s.Rewards = append(s.Rewards, credential.Issued{Serial: w.Serial, Kind: w.Kind, Expires: w.Expires})
	}
	return s
}

// The legacy types: the format written before the journal had record
// types, which was the API's JSON names. Frozen here; read, never written.

type legacyEntry struct {
	At          time.Time `cbor:"at"`
	Op          string    `cbor:"op"`
	Register    string    `cbor:"register,omitempty"`
	Stamps      int       `cbor:"stamps,omitempty"`
	Source      string    `cbor:"source,omitempty"`
	Punch       string    `cbor:"punch,omitempty"`
	Card        string    `cbor:"card,omitempty"`
	Reward      string    `cbor:"reward,omitempty"`
	ID          string    `cbor:"id,omitempty"`
	Actor       string    `cbor:"actor_key_id,omitempty"`
	Until       time.Time `cbor:"until,omitzero"`
	Reservation string    `cbor:"reservation,omitempty"`
	Voids       string    `cbor:"voids,omitempty"`
	Reason      string    `cbor:"reason,omitempty"`
}

type legacyReply struct {
	Redemption *legacyRedemption `cbor:"1,keyasint,omitempty"`
	Void       *legacyVoid       `cbor:"2,keyasint,omitempty"`
	StampVoid  *legacyStampVoid  `cbor:"3,keyasint,omitempty"`
	Released   *legacyReleased   `cbor:"4,keyasint,omitempty"`
}

type legacyRedemption struct {
	Redeemed     bool      `cbor:"redeemed"`
	RedemptionID string    `cbor:"redemption_id"`
	Serial       string    `cbor:"serial"`
	UsesLeft     int       `cbor:"uses_left"`
	RedeemedAt   time.Time `cbor:"redeemed_at"`
	Register     string    `cbor:"register"`
}

type legacyStamp struct {
	StampID        string         `cbor:"stamp_id"`
	Serial         string         `cbor:"serial"`
	Stamps         int            `cbor:"stamps"`
	StampsRequired int            `cbor:"stamps_required"`
	StampsTotal    int            `cbor:"stamps_total"`
	Added          int            `cbor:"added"`
	Rewards        []legacyReward `cbor:"rewards"`
}

type legacyReward struct {
	Serial  string          `cbor:"serial"`
	Kind    credential.Kind `cbor:"kind"`
	Expires time.Time       `cbor:"expires,omitzero"`
}

func (l legacyStamp) result() StampResult {
	r := stampRecord{StampID: l.StampID, Serial: l.Serial, Stamps: l.Stamps, StampsRequired: l.StampsRequired,
		StampsTotal: l.StampsTotal, Added: l.Added}
	for _, w := range l.Rewards {
		r.Rewards = append(r.Rewards, rewardRecord(w))
	}
	return stampResultOf(r)
}

type legacyReservation struct {
	ReservationID string    `cbor:"reservation_id"`
	Serial        string    `cbor:"serial"`
	ExpiresAt     time.Time `cbor:"expires_at"`
	UsesLeft      int       `cbor:"uses_left"`
	Register      string    `cbor:"register,omitempty"`
}

type legacyVoid struct {
	Voided       bool      `cbor:"voided"`
	RedemptionID string    `cbor:"redemption_id"`
	Serial       string    `cbor:"serial"`
	UsesLeft     int       `cbor:"uses_left"`
	VoidedAt     time.Time `cbor:"voided_at"`
	Reason       string    `cbor:"reason,omitempty"`
}

type legacyStampVoid struct {
	Voided         bool      `cbor:"voided"`
	StampID        string    `cbor:"stamp_id"`
	Serial         string    `cbor:"serial"`
	Stamps         int       `cbor:"stamps"`
	StampsTotal    int       `cbor:"stamps_total"`
	TakenBack      int       `cbor:"taken_back"`
	VoidedAt       time.Time `cbor:"voided_at"`
	Reason         string    `cbor:"reason,omitempty"`
	RewardKept     bool      `cbor:"reward_kept,omitempty"`
	RewardsRevoked []string  `cbor:"rewards_revoked,omitempty"`
}

type legacyReleased struct {
	Released      bool   `cbor:"released"`
	ReservationID string `cbor:"reservation_id"`
	Serial        string `cbor:"serial"`
}
