// Package etcdstore is the storage.Shared backend on an etcd v3 cluster:
// several stampseal nodes keep one ledger in it and any node answers any
// request.
//
// Layout: bucket b's key k lives at <prefix>/<b>/<k>; the counters behind
// Tx.Sequence at <prefix>/_seq/<b>.
//
// An Update is an optimistic serializable transaction. Reads come from one
// revision of the store (the first read fixes it); writes are buffered, and
// reads see them. At the end the writes go to etcd in ONE Txn whose
// compares say that nothing read has changed since that revision: every
// key read keeps the ModRevision it had (0 for a key that was absent), and
// every range scanned holds no key written after it. When a compare fails,
// another node won: the function is run again from nothing, after a short
// jittered pause, until the store's retry deadline. An Update that wrote
// nothing sends no Txn: its reads are one consistent snapshot.
//
// Every read is a round trip to a member, so a transaction that knows what
// it will read first says so with storage.Prefetch: those keys come in one
// read-only Txn of Gets (serializable in an Update, so the member answers
// from its own copy), and the Gets that follow are answered from memory. A
// key fetched but never got is not compared at commit.
//
// The first attempt of an Update need not read them at all: the store's
// mirror (mirror.go) follows the buckets of storage.Mirrored and answers
// a Prefetch from what this node has seen, and a key the caller marks New
// is taken as absent. What an attempt took there is compared at commit
// like any read, so a mirror behind the cluster costs one more attempt,
// never a wrong decision.
//
// A node's write transactions that are ready while it has Config.InFlight
// Txns in flight share the next Txn (batch.go): their compares and writes
// together, when no key one of them writes is read or written by another.
// Such transactions commute, so the shared Txn is serializable; when it
// fails a compare, each member is sent again alone for its own answer.
// Under load a redemption then costs etcd a fraction of a Txn: the raft
// entry, WAL record, gRPC call, apply and watch message are shared.
//
// The node hears other nodes' changes through one watch over its whole
// prefix (watch.go): Watch, WatchValues and the mirror subscribe to buckets
// of it, so that one commit reaches the node as one message however many of
// its parts follow the buckets it changed.
//
// Where it differs from the bbolt backend:
//
//   - Update's function runs once per attempt and may run many times under
//     contention (bbolt re-runs it only when a batch member fails).
//   - OnEnd hooks run after the commit (true) or when an attempt is
//     abandoned (false), concurrently with other transactions of this node.
//   - Sequence hands out values from blocks reserved per node and bucket:
//     unique across nodes and increasing within one node, with gaps (an
//     abandoned attempt does not give its value back). Sequence order is
//     therefore NOT commit order across nodes; History read in key order is
//     not the order in which uses were committed.
//   - A scan that read more keys than one Txn may compare is guarded by its
//     range compare alone, which sees keys added or changed in the range but
//     not keys deleted from it.
//   - Every failure to reach a quorum (deadline, no leader, connection
//     refused) is wrapped in storage.ErrUnavailable: the caller answers
//     "try again later" and never acknowledges a write that was not
//     committed. A timed-out commit may still have been applied.
//   - etcd caps one Txn at --max-txn-ops operations (128 by default) and
//     --max-request-bytes (1.5 MiB): one Update must stay small.
package etcdstore
