package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that travels as the contract's Go duration
// string ("720h0m0s"). Zero fields are left out of requests, so that the
// server applies its default.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string; a number is read as nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string like \"720h\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// D is time.Duration(d).
func (d Duration) D() time.Duration { return time.Duration(d) }
