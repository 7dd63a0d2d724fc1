// Package crashtest holds tests that drive the real stampseal binary as a
// black box: it is built once, started on a data directory, killed with
// SIGKILL in the middle of concurrent redemptions and restarted, or run on a
// file system that fills up or turns read-only. The tests check the
// promises of API.md and DESIGN.md from the outside: an acknowledged
// redemption or stamp is never lost, and no coupon is used more than its
// maximum.
//
// The tests use loopback addresses only. STAMPSEAL_CRASH_ROUNDS sets the
// number of kill-and-restart rounds (default 3). The disk-full test mounts a
// small tmpfs and needs root (CAP_SYS_ADMIN); without it, it fails and says so.
package crashtest
