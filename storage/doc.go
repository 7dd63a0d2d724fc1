// Package storage is stampseal's persistence: a small transactional
// key-value interface (Backend, Tx) that the domain packages program
// against, and its embedded bbolt implementation.
//
// The interface is deliberately the shape of a serializable transaction
// over named buckets, because that is what both bbolt and etcd's software
// transactional memory offer: a second, distributed backend can implement
// it without the domain packages changing.
//
// Caveats that every caller must respect:
//
//   - A function passed to Update may run more than once (group commit
//     retries a batch without a failing member). It must only read and write
//     through the Tx and capture its results in variables it overwrites on
//     every run; side effects such as events belong after Update returns.
//   - A function passed to Update that returns an error has its writes
//     discarded. Business refusals (a coupon already used) should be
//     returned as values with a nil error, so that one refusal does not
//     force the rest of its batch to be re-run.
//   - Values returned by Tx.Get are valid only inside the transaction.
package storage
