package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/keys"
)

// errUnsettled marks a request whose outcome the client cannot know: no
// answer, or 503 storage_unavailable from a node whose commit timed out
// (etcd may still have applied it).
var errUnsettled = errors.New("unsettled")

// TestFleetCrashKeepsEveryAcknowledgedWrite runs three stampseal nodes on a
// three-member etcd cluster. In the middle of concurrent redemptions and
// stamps spread over the nodes, each round kills one node with SIGKILL and
// stops one etcd member; the rest of the fleet goes on serving. Then the
// ledger, read through another node, must hold every acknowledged write
// and nothing a coupon's max_uses forbids, and after retrying the
// unanswered requests (on any node: idempotency answers are shared) it
// must be exact.
func TestFleetCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	rounds := crashRounds(t)
	const clients = 24
	cluster := etcdtest.New(t)
	mk, err := keys.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(keys.MasterKeyEnv, mk) // every node the same, as in a fleet
	// Stamps here run far faster than a till's: the reward limit (one a
	// second per register key, 100 at once) is not what this test is about.
	flags := []string{"--etcd-endpoints", strings.Join(cluster.Endpoints(), ","), "--reward-rate", "1000", "--reward-burst", "100000"}
	dir := t.TempDir()
	startNode := func(i int) *server {
		return startServerLog(t, filepath.Join(dir, fmt.Sprintf("node%d", i)), filepath.Join(dir, fmt.Sprintf("node%d.log", i)), flags...)
	}
	nodes := []*server{startNode(0), startNode(1), startNode(2)}
	run := &crashRun{t: t, client: newClient(clients), creds: map[string]*tally{}}
	run.shop = setupShop(t, nodes[0], run.client, "fleet-bakery", 4)
	reader := run.shop.registers[0]

	for round := 1; round <= rounds; round++ {
		victim, member := round%3, (round+1)%3
		srv := nodes[(victim+1)%3] // sets up and checks: it stays up
		run.shop.issuer = apiKey(t, srv, run.client, run.shop.merchant, "issuer", fmt.Sprintf("pos round %d", round))
		fresh := slices.Concat(run.shop.coupons(t, srv, run.client, 1, 40), run.shop.coupons(t, srv, run.client, 3, 20))
		var freshCards []issued
		for range 12 {
			freshCards = append(freshCards, run.shop.card(t, srv, run.client))
		}
		run.track(fresh, freshCards, func(i int) bool { return i >= 40 })

		var stats roundStats
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range clients {
			node := nodes[w%3]
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for seq := 0; !stop.Load(); seq++ {
					r := run.draw(rng, round, w, seq, fresh, freshCards)
					stats.sent.Add(1)
					a, err := call(context.Background(), run.client, "POST", node.base+r.path(), r.token, r.body())
					if err == nil && a.status == http.StatusServiceUnavailable && a.errCode() == "storage_unavailable" {
						err = errUnsettled
					}
					stats.count(a, err)
					run.record(r, a, err)
					if err != nil && node.exited() {
						return // its node is gone
					}
				}
			})
		}
		killAfter := time.Duration(50+rand.IntN(251)) * time.Millisecond
		time.Sleep(killAfter)
		for i, n := range nodes {
			if n.exited() {
				t.Fatalf("round %d: node %d died before the kill (%v); log:\n%s", round, i, n.err, n.logTail())
			}
		}
		nodes[victim].kill()
		cluster.Stop(member)
		time.Sleep(300 * time.Millisecond) // two nodes on two members go on
		stop.Store(true)
		wg.Wait()
		nodes[victim].stop()
		if err := cluster.Restart(member); err != nil {
			t.Fatalf("round %d: restart etcd member %d: %v", round, member, err)
		}
		nodes[victim] = startNode(victim)
		run.client.CloseIdleConnections()

		run.mu.Lock()
		problems := run.problems
		run.mu.Unlock()
		if len(problems) > 0 {
			for i := range nodes {
				t.Logf("node %d's failures:%s", i, failuresLogged(filepath.Join(dir, fmt.Sprintf("node%d.log", i))))
			}
			t.Fatalf("round %d: unexpected answers (%d), first: %s", round, len(problems), problems[0])
		}
		extraUses, extraStamps := run.checkLedger(srv, reader, round, false)
		applied, refused := run.retryLost(nodes[victim], round) // retried on the restarted node
		run.retryAcked(nodes[member], round, 20)
		run.checkLedger(srv, reader, round, true)
		t.Logf("round %d: node %d killed and etcd member %d stopped after %v; sent %d, 200 %d, refused %d, unsettled %d (in the ledger already: %d uses, %d stamps; on retry: %d answered 200, %d refused)",
			round, victim, member, killAfter, stats.sent.Load(), stats.acked.Load(), stats.refused.Load(), stats.lost.Load(), extraUses, extraStamps, applied, refused)
		if stats.acked.Load() == 0 {
			t.Fatalf("round %d: no request was acknowledged: the test tested nothing", round)
		}
	}
}

// failuresLogged returns the lines of a node's log that answered 500.
func failuresLogged(path string) string {
	raw, _ := os.ReadFile(path)
	var out strings.Builder
	for l := range strings.Lines(string(raw)) {
		if strings.Contains(l, `"status":500`) {
			out.WriteString("\n" + strings.TrimSpace(l))
		}
	}
	return out.String()
}
