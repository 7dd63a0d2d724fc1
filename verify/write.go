package verify

import (
	"errors"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// The write protocol every change of the ledger follows (redeem, stamp,
// claim, holds, voids), kept in one place:
//
//  1. one write transaction checks and marks;
//  2. an idempotency key that was answered before gets that answer again,
//     and nothing is written;
//  3. a refusal ends the transaction cleanly with nothing written, so that
//     it does not force the rest of its group commit to be re-run, and is
//     returned to the caller as the answer;
//  4. the transaction may run more than once (group commit), so every
//     attempt starts from nothing.

// kept says where an answer of type T sits in a remembered answer.
type kept[T any] func(*answer) **T

// change is the body of a write: it checks and marks inside tx, journals
// through o, and returns the answer. keep gives the remembered-answer
// record to attach to the change's journal event (nil when the request has
// no idempotency key); it must be called with the final answer.
type change[T any] func(tx storage.Tx, o journal, keep func(*T) *answer) (T, error)

// write runs body under the write protocol. retry is true when the answer
// is a remembered one. err is a *Refusal (or a type that unwraps to one)
// for a refused request, or a failure of the service. serials are the
// credentials body changes: on a shared backend this node's writes about
// one of them take turns (queue.go).
func write[T any](v *Verifier, idem *answer, slot kept[T], body change[T], serials ...credential.Serial) (out T, retry bool, err error) {
	defer v.turn(serials...)()
	var refused error
	err = v.store.Update(func(tx storage.Tx) error {
		var zero T
		out, retry, refused = zero, false, nil
		v.prefetch(tx, idem, serials...)
		o := v.begin(tx)
		first, err := o.recall(tx, idem)
		if err != nil {
			return refuse(err, &refused)
		}
		if first != nil {
			if prev := *slot(first); prev != nil {
				out, retry = *prev, true
				return nil
			}
			// The key answered another kind of request.
			return refuse(ErrIdempotencyReused, &refused)
		}
		keep := func(ans *T) *answer {
			if idem == nil {
				return nil
			}
			a := *idem
			*slot(&a) = ans
			return &a
		}
		out, err = body(tx, o, keep)
		if ferr := o.failed(); ferr != nil {
			return ferr
		}
		return refuse(err, &refused)
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		var zero T
		return zero, false, err
	}
	return out, retry, nil
}

// refuse files a refusal as the transaction's answer and lets the
// transaction end cleanly (nothing was written before a refusal), so that a
// refused request does not force its group commit to be re-run. Any other
// error aborts the transaction.
func refuse(err error, refused *error) error {
	var r *Refusal
	if errors.As(err, &r) {
		*refused = err
		return nil
	}
	return err
}
