package sim

import (
	"testing"
	"time"
)

func TestOneFamily(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	uses := func(spec ...any) []cardUse { // hour, till, hour, till, ...
		var out []cardUse
		for i := 0; i < len(spec); i += 2 {
			out = append(out, cardUse{day.Add(time.Duration(spec[i].(float64) * float64(time.Hour))), spec[i+1].(string)})
		}
		return out
	}
	for name, tc := range map[string]struct {
		uses []cardUse
		want bool
	}{
		"one visit": {uses(8.0, "a"), true},
		"a stamp and its retry seconds later are one visit": {uses(8.0, "a", 8.001, "a"), true},
		"a heavy member twice and the family once":          {uses(8.0, "a", 12.0, "b", 16.0, "a"), true},
		"two members twice each":                            {uses(7.5, "a", 9.0, "b", 12.0, "a", 16.0, "b"), true},
		"five visits":                                       {uses(7.0, "a", 9.0, "b", 11.0, "a", 13.0, "b", 17.0, "c"), false},
		"the card at two tills half an hour apart":          {uses(8.0, "a", 8.5, "b"), false},
		"three visits, two of them forty minutes apart":     {uses(8.0, "a", 13.0, "b", 13.7, "c"), false},
		"four visits that no two people can split":          {uses(8.0, "a", 9.5, "b", 10.4, "c", 11.6, "a"), false},
	} {
		if got := oneFamily(tc.uses); got != tc.want {
			t.Errorf("%s: oneFamily = %v, want %v", name, got, tc.want)
		}
	}
}
