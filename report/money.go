package report

import (
	"sort"

	"github.com/stampseal/stampseal/credential"
)

// Money is an amount per currency, in minor units. A nil Money is zero.
type Money map[string]int64

// add adds n times v; a nil v adds nothing.
func (m *Money) add(v *credential.Value, n int64) {
	if v == nil {
		return
	}
	if *m == nil {
		*m = Money{}
	}
	(*m)[v.Currency] += v.Amount * n
}

// plus adds every currency of o.
func (m *Money) plus(o Money, sign int64) {
	for c, a := range o {
		if *m == nil {
			*m = Money{}
		}
		(*m)[c] += sign * a
	}
}

// List is m as values sorted by currency, without zero amounts; never nil,
// so that JSON shows [] rather than null.
func (m Money) List() []credential.Value {
	out := []credential.Value{}
	for c, a := range m {
		if a != 0 {
			out = append(out, credential.Value{Amount: a, Currency: c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}
