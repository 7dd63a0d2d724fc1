package crashtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// requireRoot fails (never skips) when the test cannot mount file systems:
// these tests are the only check that a full or failing disk never turns
// into an acknowledged redemption that was not written.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test mounts a small file system and needs root (CAP_SYS_ADMIN); run it as root, e.g. in a privileged container: sudo -E go test -run %s ./crashtest/", t.Name())
	}
}

func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func umount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", dir, err, out)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted at
// the end of the test.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mount(t, "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir)
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// mountExt4 makes an ext4 image of size bytes and loop-mounts it on a new
// directory; it returns the image and the mount point.
func mountExt4(t *testing.T, size int64) (image, dir string) {
	t.Helper()
	base := t.TempDir()
	image, dir = filepath.Join(base, "fs.img"), filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(image)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	mount(t, "-o", "loop", image, dir)
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return image, dir
}

// fill writes a file until the file system refuses with ENOSPC.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	var n int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			w, err := f.Write(buf)
			n += int64(w)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("fill %s: %v", path, err)
			}
		}
	}
	f.Sync()
	return n
}

// outcome is what one redemption attempt was answered.
type outcome struct {
	coupon issued
	req    request
	status int
	code   string
}

// redeemAll redeems coupons one by one (each a single use) until stopAfter
// consecutive 503 answers, and returns every outcome.
func redeemAll(t *testing.T, s *server, c *shop, coupons []issued, stopAfter int, tag string) []outcome {
	t.Helper()
	client := newClient(1)
	var out []outcome
	streak := 0
	for i, cp := range coupons {
		r := request{serial: cp.Serial, code: cp.Code, token: c.registers[0], register: fmt.Sprintf("%s-%d", tag, i), key: fmt.Sprintf("%s-key-%d", tag, i)}
		a, err := call(context.Background(), client, "POST", s.base+r.path(), r.token, r.body())
		if err != nil {
			t.Fatalf("redeem %s: no answer: %v\nserver log:\n%s", cp.Serial, err, s.logTail())
		}
		out = append(out, outcome{coupon: cp, req: r, status: a.status, code: a.errCode()})
		if a.status != 200 && a.status != 503 && a.status != 500 {
			t.Fatalf("redeem %s answered %d %s; want 200, or 503 storage_unavailable", cp.Serial, a.status, a.raw)
		}
		if a.status == 200 {
			streak = 0
		} else if streak++; streak >= stopAfter {
			break
		}
	}
	return out
}

// summarize counts outcomes by status and error code.
func summarize(out []outcome) map[string]int {
	m := map[string]int{}
	for _, o := range out {
		m[fmt.Sprintf("%d %s", o.status, o.code)]++
	}
	return m
}

// checkOutcomes reads the ledger: every 200 is a use, every refusal is not.
func checkOutcomes(t *testing.T, s *server, sh *shop, out []outcome, when string) {
	t.Helper()
	serials := make([]string, len(out))
	for i, o := range out {
		serials[i] = o.coupon.Serial
	}
	ledger := s.ledger(t, newClient(16), sh.registers[0], serials)
	for _, o := range out {
		e := ledger[o.coupon.Serial]
		switch {
		case o.status == 200 && (e.UsesLeft != 0 || len(e.History) != 1 || e.History[0].Register != o.req.register):
			t.Errorf("%s: coupon %s was answered 200 but the ledger has uses_left %d, history %+v", when, o.coupon.Serial, e.UsesLeft, e.History)
		case o.status != 200 && (e.UsesLeft != 1 || len(e.History) != 0):
			t.Errorf("%s: coupon %s was answered %d %s but the ledger has uses_left %d, history %+v", when, o.coupon.Serial, o.status, o.code, e.UsesLeft, e.History)
		}
	}
}

// TestDiskFullAnswers503AndResumes fills the file system under the data
// directory: redemptions must be refused with 503 storage_unavailable and
// never acknowledged unwritten; once space is freed the server goes on, and
// a refused redemption can be retried once.
func TestDiskFullAnswers503AndResumes(t *testing.T) {
	requireRoot(t)
	mnt := mountTmpfs(t, 48<<20)
	data, logPath := filepath.Join(mnt, "data"), filepath.Join(t.TempDir(), "server.log")
	srv := startServerLog(t, data, logPath)
	client := newClient(4)
	sh := setupShop(t, srv, client, "full-bakery", 1)
	coupons := sh.coupons(t, srv, client, 1, 1000)
	card := sh.card(t, srv, client)

	before := redeemAll(t, srv, &sh, coupons[:10], 1, "before")
	if got := summarize(before); got["200 "] != 10 {
		t.Fatalf("before the disk is full: redemptions answered %v; want 10 × 200", got)
	}

	filler := filepath.Join(mnt, "filler")
	n := fill(t, filler)
	full := redeemAll(t, srv, &sh, coupons[10:], 20, "full")
	counts := summarize(full)
	t.Logf("disk full (filler %d MiB): %d redemptions answered %v", n>>20, len(full), counts)
	if counts["503 storage_unavailable"] == 0 {
		t.Fatalf("with the disk full no redemption was refused 503 storage_unavailable: %v\nserver log:\n%s", counts, srv.logTail())
	}
	if counts["500 internal"] > 0 {
		t.Errorf("with the disk full some redemptions answered 500 internal (want 503 storage_unavailable): %v", counts)
	}
	if srv.exited() {
		t.Fatalf("the server died when the disk filled up: %v\n%s", srv.err, srv.logTail())
	}
	checkOutcomes(t, srv, &sh, full, "while the disk is full")
	// Stamps and issuance are refused the same way.
	for _, req := range []struct {
		path, token string
		body        any
	}{
		{"/v1/cards/stamp", sh.registers[0], map[string]any{"card_code": card.Code, "stamps": 1, "idempotency_key": "full-stamp"}},
		{"/v1/coupons", sh.issuer, map[string]any{"merchant": sh.merchant, "offer": "x", "valid_for": "1h", "max_uses": 1, "count": 50}},
	} {
		a, err := call(context.Background(), client, "POST", srv.base+req.path, req.token, req.body)
		if err != nil {
			t.Fatalf("POST %s with the disk full: no answer: %v", req.path, err)
		}
		t.Logf("disk full: POST %s answered %d %s", req.path, a.status, a.errCode())
		if a.status != 503 || a.errCode() != "storage_unavailable" {
			t.Errorf("POST %s with the disk full answered %d %s; want 503 storage_unavailable", req.path, a.status, a.raw)
		}
	}
	var st ledgerEntry
	srv.must(client, 200, "GET", "/v1/credentials/"+card.Serial, sh.registers[0], nil).decode(t, &st)
	if st.StampsTotal != 0 {
		t.Errorf("a stamp refused with the disk full is in the ledger: stamps_total %d", st.StampsTotal)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The first refused redemption, retried with its idempotency key, now
	// goes through, once.
	var refused outcome
	for _, o := range full {
		if o.status != 200 {
			refused = o
			break
		}
	}
	a := srv.must(client, 200, "POST", refused.req.path(), refused.req.token, refused.req.body())
	t.Logf("after freeing space, the refused redemption of %s retried: %d", refused.coupon.Serial, a.status)
	again := refused.req
	again.key, again.register = again.key+"-again", again.register+"-again"
	if a := srv.must(client, 409, "POST", again.path(), again.token, again.body()); a.errCode() != "already_redeemed" {
		t.Errorf("second redemption of %s answered %s, want already_redeemed", refused.coupon.Serial, a.raw)
	}
	after := redeemAll(t, srv, &sh, coupons[10+len(full):10+len(full)+10], 1, "after")
	if got := summarize(after); got["200 "] != 10 {
		t.Fatalf("after freeing space: redemptions answered %v; want 10 × 200", got)
	}

	// Everything answered survives a restart; the retried coupon is used.
	srv.stop()
	srv = startServerLog(t, data, logPath)
	for i := range full {
		if full[i].coupon.Serial == refused.coupon.Serial {
			full[i].status, full[i].req = 200, refused.req
		}
	}
	checkOutcomes(t, srv, &sh, append(append(before, full...), after...), "after a restart")
}

// fsIocShutdown is FS_IOC_SHUTDOWN (_IOR('X', 125, __u32)); ext4 and XFS
// implement it: afterwards every write and sync fails with EIO, as on a
// disk that failed or a file system the kernel remounted read-only after
// an error.
const fsIocShutdown = 0x8004587d

// TestFailedFileSystemAnswers503 takes the file system under the data
// directory away while the server runs (ext4 shut down by ioctl: a plain
// remount read-only is refused while the database is open for writing).
// Redemptions must answer 503, never 200; after the file system is mounted
// again, the ledger holds exactly the acknowledged ones.
func TestFailedFileSystemAnswers503(t *testing.T) {
	requireRoot(t)
	image, mnt := mountExt4(t, 64<<20)
	data, logPath := filepath.Join(mnt, "data"), filepath.Join(t.TempDir(), "server.log")
	srv := startServerLog(t, data, logPath)
	client := newClient(4)
	sh := setupShop(t, srv, client, "ro-bakery", 1)
	coupons := sh.coupons(t, srv, client, 1, 200)
	before := redeemAll(t, srv, &sh, coupons[:10], 1, "before")

	// A remount read-only is what an operator would try first; with the
	// database open for writing the kernel refuses it (EBUSY).
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err == nil {
		t.Logf("remount read-only succeeded")
	} else {
		t.Logf("remount read-only refused as expected while the database is open: %s", strings.TrimSpace(string(out)))
		dirf, err := os.Open(mnt)
		if err != nil {
			t.Fatal(err)
		}
		flags := uint32(2) // EXT4_GOING_FLAGS_NOLOGFLUSH: as if the disk went away
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, dirf.Fd(), fsIocShutdown, uintptr(unsafe.Pointer(&flags)))
		dirf.Close()
		if errno != 0 {
			t.Fatalf("FS_IOC_SHUTDOWN on %s: %v", mnt, errno)
		}
	}
	failed := redeemAll(t, srv, &sh, coupons[10:], 20, "failed")
	counts := summarize(failed)
	t.Logf("file system gone: %d redemptions answered %v", len(failed), counts)
	if counts["503 storage_unavailable"] == 0 || counts["200 "] > 0 {
		t.Errorf("with the file system gone redemptions answered %v; want only 503 storage_unavailable", counts)
	}

	// Stop, mount the image again (the journal is replayed), restart.
	srv.stop()
	umount(t, mnt)
	mount(t, "-o", "loop", image, mnt)
	srv = startServerLog(t, data, logPath)
	checkOutcomes(t, srv, &sh, append(before, failed...), "after mounting the file system again")
	after := redeemAll(t, srv, &sh, coupons[10+len(failed):10+len(failed)+5], 1, "after")
	if got := summarize(after); got["200 "] != 5 {
		t.Errorf("after mounting again: redemptions answered %v; want 5 × 200", got)
	}
}

// TestReadOnlyDataDirRefusesToStart starts the server on a data directory
// mounted read-only: it must not come up pretending to serve.
func TestReadOnlyDataDirRefusesToStart(t *testing.T) {
	requireRoot(t)
	image, mnt := mountExt4(t, 32<<20)
	data, logPath := filepath.Join(mnt, "data"), filepath.Join(t.TempDir(), "server.log")
	srv := startServerLog(t, data, logPath)
	srv.stop()
	umount(t, mnt)
	mount(t, "-o", "loop,ro", image, mnt)
	s, err := tryStart(t, data, logPath)
	if err == nil {
		s.stop()
		t.Fatalf("the server came up on a read-only data directory")
	}
	raw, _ := os.ReadFile(logPath)
	said := ""
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, "read-only file system") {
			said = line
		}
	}
	if said == "" {
		t.Fatalf("the server's refusal does not say the file system is read-only; log:\n%s", raw)
	}
	t.Logf("server on a read-only data directory exits: %s", said)
}
