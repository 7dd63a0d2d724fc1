// Package report keeps the bakery owner's figures: cards issued, stamps,
// rewards earned, redeemed and outstanding, coupons and their redemption
// rates, repeat visits, registers, refusals, alerts and blocks, per
// merchant and per UTC day, so that a window of any length is answered by
// summing a few day buckets instead of reading the ledger.
//
// The ledger is the source of truth. A Book is rebuilt from it when it is
// opened (issuance records, the journal of uses and stamps, alerts and the
// blocklist) and then follows it: it reads the journal from where it left
// off and is told of issuance and refusals by the same events the fraud
// module receives. Refusals are the one figure the ledger does not hold;
// the Book keeps them in storage.Report, one record per merchant and day.
package report
