package report

import "time"

// dayOf numbers UTC days since 1970-01-01.
func dayOf(t time.Time) int32 {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return int32(d)
}

// dayStart is the first instant of day d.
func dayStart(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// day holds one merchant's counters of one UTC day.
type day struct {
	cardsIssued, couponsIssued         int
	stamps                             int
	rewardsEarned, rewardsRedeemed     int
	rewardsExpiring                    int // rewards that expire this day unredeemed (as the ledger stands)
	couponsRedeemed                    int
	earnedValue, rewardRedeemedValue   Money
	expiringValue, couponRedeemedValue Money
	couponsIssuedValue                 Money
	registers                          map[string]*Register
	campaigns                          map[string]*campaignDay
	alerts                             map[string]int
	blocks                             int
	refused                            map[string]int
	refusedValue                       Money
	visits                             []visit // stamps and claims, in time order
}

// visit is a card stamped at a Unix second.
type visit struct {
	card int32
	at   int64
}

// visit adds a visit, keeping the day in time order (events of one commit
// may carry times slightly out of order).
func (d *day) visit(card int32, at int64) {
	i := len(d.visits)
	for i > 0 && d.visits[i-1].at > at {
		i--
	}
	d.visits = append(d.visits, visit{})
	copy(d.visits[i+1:], d.visits[i:])
	d.visits[i] = visit{card, at}
}

type campaignDay struct {
	issued, redeemed int
	redeemedValue    Money
}

func (d *day) register(name string) *Register {
	if d.registers == nil {
		d.registers = map[string]*Register{}
	}
	r := d.registers[name]
	if r == nil {
		r = &Register{Register: name}
		d.registers[name] = r
	}
	return r
}

func (d *day) campaign(offer string) *campaignDay {
	if d.campaigns == nil {
		d.campaigns = map[string]*campaignDay{}
	}
	c := d.campaigns[offer]
	if c == nil {
		c = &campaignDay{}
		d.campaigns[offer] = c
	}
	return c
}

// unvisit removes one visit of card at at: a voided stamp was no visit.
func (d *day) unvisit(card int32, at int64) {
	for i := len(d.visits) - 1; i >= 0; i-- {
		if d.visits[i] == (visit{card, at}) {
			d.visits = append(d.visits[:i], d.visits[i+1:]...)
			return
		}
	}
}
