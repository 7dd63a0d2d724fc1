package testserver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/internal/sharedtest"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/storage"
)

// The scenarios below run on any fleet: here over a bbolt file made to
// look shared (sharedtest), in etcd_test.go over an embedded etcd cluster.

// fleetShop is one merchant on a fleet, with its admin's, issuer's and a
// register's client on every node.
type fleetShop struct {
	id        string
	admin     []*client.Client // all-merchants admin, per node
	issuer    []*client.Client
	register  []*client.Client // one register key, per node
	registers []string         // its id
}

func newFleetShop(t *testing.T, f *testserver.Fleet, id string) *fleetShop {
	t.Helper()
	ctx := context.Background()
	s := &fleetShop{id: id}
	for _, n := range f.Nodes {
		c, err := client.New(n.URL, client.WithToken(testserver.AdminToken))
		if err != nil {
			t.Fatal(err)
		}
		s.admin = append(s.admin, c)
	}
	if _, err := s.admin[0].CreateMerchant(ctx, id, "Shop "+id); err != nil {
		t.Fatalf("CreateMerchant: %v", err)
	}
	iss, err := s.admin[0].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: id, Role: client.RoleIssuer, Name: "pos"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := s.admin[0].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: id, Role: client.RoleRegister, Name: "till 1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.admin {
		s.issuer = append(s.issuer, a.As(iss.Token))
		s.register = append(s.register, a.As(reg.Token))
	}
	s.registers = append(s.registers, reg.ID)
	return s
}

// eventually polls check until it reports true, failing the test if it
// has not within a few seconds (a deadline for a failure, not a timing
// to assert: the contract is one second).
func eventually(t *testing.T, what string, check func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s (last error: %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// issueHereUseThere issues through one node and presents each credential
// at once at the next: a coupon redeemed, another verified, a card
// stamped. None may be refused because the second node's etcd member has
// not applied the issue yet.
func issueHereUseThere(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "issue-here")
	if _, err := s.admin[0].CreateProgram(ctx, client.Program{Merchant: s.id, ID: "coffee", StampsRequired: 10, Reward: "free coffee"}); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		here, there := i%len(f.Nodes), (i+1)%len(f.Nodes)
		batch, err := s.issuer[here].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "croissant", ValidFor: client.Duration(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.register[there].Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: batch.Coupons[0].Code}, Register: "till-1"}); err != nil {
			t.Fatalf("coupon %d, issued on node %d, redeemed on node %d: %v", i, here, there, err)
		}
		if batch, err = s.issuer[here].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "bagel", ValidFor: client.Duration(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if v, err := s.register[there].Verify(ctx, client.Code{Code: batch.Coupons[0].Code}); err != nil || !v.Valid {
			t.Fatalf("coupon %d, issued on node %d, verified on node %d: %+v, %v", i, here, there, v, err)
		}
		card, err := s.issuer[here].IssueCard(ctx, s.id, "coffee")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.register[there].Stamp(ctx, client.StampRequest{CardCode: card.Code, Register: "till-1"}); err != nil {
			t.Fatalf("card %d, issued on node %d, stamped on node %d: %v", i, here, there, err)
		}
	}
}

// saleMovesNode takes each step of a sale on one node and the next at
// once on another, as a till failing over between nodes does: a hold
// confirmed, a redemption retried with its idempotency key (the first
// answer again) and voided, an API key made and used. None may be
// answered 404, 401 or otherwise because the second node's etcd member
// has not applied the first step yet.
func saleMovesNode(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "failover")
	for i := range 60 {
		here, there := i%len(f.Nodes), (i+1)%len(f.Nodes)
		batch, err := s.issuer[there].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "soup", ValidFor: client.Duration(time.Hour), Count: 2})
		if err != nil {
			t.Fatal(err)
		}
		hold, err := s.register[here].Reserve(ctx, client.ReserveRequest{Code: client.Code{Code: batch.Coupons[0].Code}, Register: "till-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.register[there].ConfirmReservation(ctx, hold.ReservationID, ""); err != nil {
			t.Fatalf("round %d: a hold made on node %d, confirmed on node %d: %v", i, here, there, err)
		}
		sale := client.RedeemRequest{Code: client.Code{Code: batch.Coupons[1].Code}, Register: "till-1", IdempotencyKey: fmt.Sprint("sale-", i)}
		red, err := s.register[here].Redeem(ctx, sale)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.register[there].Redeem(ctx, sale); err != nil || again.RedemptionID != red.RedemptionID {
			t.Fatalf("round %d: a redemption on node %d, retried on node %d: %+v, %v; want redemption %s again", i, here, there, again, err, red.RedemptionID)
		}
		if _, err := s.register[there].VoidRedemption(ctx, red.RedemptionID, "wrong item"); err != nil {
			t.Fatalf("round %d: a redemption on node %d, voided on node %d: %v", i, here, there, err)
		}
		key, err := s.admin[here].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: s.id, Role: client.RoleRegister, Name: fmt.Sprint("till ", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.admin[there].As(key.Token).Verify(ctx, client.Code{Code: batch.Coupons[1].Code}); err != nil {
			t.Fatalf("round %d: an API key made on node %d, used on node %d: %v", i, here, there, err)
		}
	}
}

// raceForOneCoupon: 100 goroutines spread over the nodes redeem one coupon
// of max_uses; exactly max_uses succeed, the rest are already_redeemed.
func raceForOneCoupon(t *testing.T, f *testserver.Fleet, maxUses int) {
	ctx := context.Background()
	s := newFleetShop(t, f, fmt.Sprintf("race-%d", maxUses))
	batch, err := s.issuer[0].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "free coffee",
		ValidFor: client.Duration(time.Hour), MaxUses: maxUses})
	if err != nil {
		t.Fatal(err)
	}
	code := batch.Coupons[0].Code
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := i % len(f.Nodes)
			_, err := s.register[node].Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: code},
				Register: fmt.Sprintf("till-%d", i), IdempotencyKey: fmt.Sprintf("sale-%d", i)})
			var e *client.Error
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &e) && e.Code == client.CodeAlreadyRedeemed:
				refused.Add(1)
			default:
				t.Errorf("redeem on node %d: %v", node, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != int32(maxUses) || refused.Load() != int32(100-maxUses) {
		t.Errorf("100 redemptions over %d nodes: %d succeeded, %d refused; want %d and %d",
			len(f.Nodes), ok.Load(), refused.Load(), maxUses, 100-maxUses)
	}
	for i, r := range s.register {
		c, err := r.Credential(ctx, batch.Coupons[0].Serial, client.HistoryPage{})
		if err != nil || c.UsesLeft != 0 || len(c.History) != maxUses {
			t.Errorf("node %d: %d uses left, %d events in the history, %v; want 0 and %d", i, c.UsesLeft, len(c.History), err, maxUses)
		}
	}
}

// stampOneCardEverywhere: n stamps of one card, concurrently through every
// node: the card counts n, and floor(n/10) distinct rewards were paid.
func stampOneCardEverywhere(t *testing.T, f *testserver.Fleet, n int) {
	ctx := context.Background()
	s := newFleetShop(t, f, "stamps")
	_, err := s.admin[0].CreateProgram(ctx, client.Program{Merchant: s.id, ID: "coffee", StampsRequired: 10, Reward: "free coffee",
		Limits: &client.Limits{PerRequest: 5, PerHour: 1000, PerDay: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	card, err := s.issuer[1%len(f.Nodes)].IssueCard(ctx, s.id, "coffee")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rewards := map[string]bool{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := i % len(f.Nodes)
			req := client.StampRequest{CardCode: card.Code, Stamps: 1, Register: fmt.Sprintf("till-%d", node), IdempotencyKey: fmt.Sprintf("sale-%d", i)}
			u, err := s.register[node].Stamp(ctx, req)
			// A till whose stamp lost to too many others at once is told
			// that nothing was recorded (503) and sends it again, with the
			// same idempotency key.
			for try := 0; try < 5 && unavailable(err); try++ {
				u, err = s.register[node].Stamp(ctx, req)
			}
			if err != nil {
				t.Errorf("stamp %d on node %d: %v", i, node, err)
				return
			}
			mu.Lock()
			for _, r := range u.Rewards {
				rewards[r.Serial] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(rewards) != n/10 {
		t.Errorf("%d stamps over %d nodes paid %d distinct rewards, want %d", n, len(f.Nodes), len(rewards), n/10)
	}
	for i, r := range s.register {
		c, err := r.Credential(ctx, card.Serial, client.HistoryPage{})
		if err != nil || c.StampsTotal != n || c.Stamps == nil || *c.Stamps != n%10 || len(c.Rewards) != n/10 {
			t.Errorf("node %d: %d stamps in all, %v on the card, %d rewards, %v; want %d, %d, %d",
				i, c.StampsTotal, c.Stamps, len(c.Rewards), err, n, n%10, n/10)
		}
	}
}

// unavailable reports whether err is 503 storage_unavailable: nothing
// was recorded, try again.
func unavailable(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == 503 && e.Code == client.CodeStorageUnavailable
}

// changesReachEveryNode: an API key revoked, a card blocked and a signing
// key marked compromised through the first node are refused by the last.
func changesReachEveryNode(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "changes")
	a, b := 0, len(f.Nodes)-1
	batch, err := s.issuer[a].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "free coffee", ValidFor: client.Duration(time.Hour), Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	blocked, signed := batch.Coupons[0], batch.Coupons[1]
	// Node B caches the register's key and the merchant's keyset.
	for _, c := range batch.Coupons {
		if v, err := s.register[b].Verify(ctx, client.Code{Code: c.Code}); err != nil || !v.Valid {
			t.Fatalf("verify on node B = %+v, %v; want valid", v, err)
		}
	}

	if err := s.admin[a].Block(ctx, s.id, blocked.Serial, "reported stolen"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a card blocked on node A is refused on node B", func() (bool, error) {
		v, err := s.register[b].Verify(ctx, client.Code{Code: blocked.Code})
		return err == nil && v.Status == "blocked", err
	})

	if _, err := s.admin[a].RotateKeys(ctx, s.id, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a code of a key marked compromised on node A is refused on node B", func() (bool, error) {
		v, err := s.register[b].Verify(ctx, client.Code{Code: signed.Code})
		return err == nil && !v.Valid && v.Reason == "revoked", err
	})

	if err := s.admin[a].RevokeAPIKey(ctx, s.registers[0], "till stolen"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an API key revoked on node A is refused on node B", func() (bool, error) {
		_, err := s.register[b].Verify(ctx, client.Code{Code: signed.Code})
		var e *client.Error
		return errors.As(err, &e) && e.Status == 401 && e.Code == client.CodeKeyRevoked, err
	})
}

// oneCardAtTwoNodes: a card stamped through two tills of one shop, each on
// another node, within the duplicate window is a copied card, and the
// alerts that both nodes raise about it are one alert.
func oneCardAtTwoNodes(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "copies")
	till2, err := s.admin[0].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: s.id, Role: client.RoleRegister, Name: "till 2"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.admin[0].CreateProgram(ctx, client.Program{Merchant: s.id, ID: "coffee", StampsRequired: 10, Reward: "free coffee"})
	if err != nil {
		t.Fatal(err)
	}
	card, err := s.issuer[0].IssueCard(ctx, s.id, "coffee")
	if err != nil {
		t.Fatal(err)
	}
	a, b := 0, len(f.Nodes)-1
	stamp := func(c *client.Client, till string) {
		t.Helper()
		if _, err := c.Stamp(ctx, client.StampRequest{CardCode: card.Code, Stamps: 1, Register: till}); err != nil {
			t.Fatalf("stamp at %s: %v", till, err)
		}
	}
	stamp(s.register[a], "till-1")
	stamp(s.admin[b].As(till2.Token), "till-2") // node B learns of node A's use from the ledger
	stamp(s.register[a], "till-1")              // and node A of node B's
	var copied []client.Alert
	eventually(t, "one alert of the copied card", func() (bool, error) {
		all, err := s.admin[b].Alerts(ctx, client.AlertFilter{Merchant: s.id})
		copied = copied[:0]
		for _, al := range all {
			if al.Serial == card.Serial && (al.Kind == "duplicate_card" || al.Kind == "cloned_card") {
				copied = append(copied, al)
			}
		}
		return err == nil && len(copied) == 1 && copied[0].Count >= 2, err
	})
	if got := copied[0].Evidence.Registers; len(got) < 2 {
		t.Errorf("the alert names registers %v, want both tills", got)
	}
}

// shopsReachEveryNode: shops and register keys placed through node A are
// known to node B's detectors: a card used in Paris through node A and in
// Berlin through node B ten minutes later is a cloned card (travel), not
// merely two tills of one shop.
func shopsReachEveryNode(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "shops")
	a, b := 0, len(f.Nodes)-1
	till := map[string]string{}
	for _, shop := range []client.Shop{{Merchant: s.id, ID: "paris", Name: "Paris", Location: client.Location{Lat: 48.86, Lon: 2.35}},
		{Merchant: s.id, ID: "berlin", Name: "Berlin", Location: client.Location{Lat: 52.52, Lon: 13.40}}} {
		if _, err := s.admin[a].CreateShop(ctx, shop); err != nil {
			t.Fatal(err)
		}
		k, err := s.admin[a].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: s.id, Role: client.RoleRegister, Name: "till at " + shop.ID, Shop: shop.ID})
		if err != nil {
			t.Fatal(err)
		}
		till[shop.ID] = k.Token
	}
	if _, err := s.admin[a].CreateProgram(ctx, client.Program{Merchant: s.id, ID: "coffee", StampsRequired: 10, Reward: "free coffee"}); err != nil {
		t.Fatal(err)
	}
	card, err := s.issuer[a].IssueCard(ctx, s.id, "coffee")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin[a].As(till["paris"]).Stamp(ctx, client.StampRequest{CardCode: card.Code, Register: "paris-1"}); err != nil {
		t.Fatal(err)
	}
	// Node B's detectors hear of the Berlin till's shop by the watch.
	berlin, err := f.Nodes[b].Access.Authenticate(till["berlin"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B knows the shops", func() (bool, error) {
		return f.Nodes[b].Monitor.ShopOf(berlin.ID) == "berlin", nil
	})
	if _, err := s.admin[b].As(till["berlin"]).Stamp(ctx, client.StampRequest{CardCode: card.Code, Register: "berlin-1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a cloned-card alert for Paris and Berlin", func() (bool, error) {
		all, err := s.admin[b].Alerts(ctx, client.AlertFilter{Merchant: s.id})
		for _, al := range all {
			if al.Serial == card.Serial && al.Kind == "cloned_card" {
				return true, nil
			}
		}
		return false, err
	})
}

// figuresCountEveryNode: the owner's figures on every node count what
// every node did: issuances, stamps, redemptions and refusals.
func figuresCountEveryNode(t *testing.T, f *testserver.Fleet) {
	ctx := context.Background()
	s := newFleetShop(t, f, "figures")
	last := len(f.Nodes) - 1
	if _, err := s.admin[0].CreateProgram(ctx, client.Program{Merchant: s.id, ID: "coffee", StampsRequired: 10, Reward: "free coffee"}); err != nil {
		t.Fatal(err)
	}
	card, err := s.issuer[0].IssueCard(ctx, s.id, "coffee")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := s.issuer[last].IssueCoupons(ctx, client.CouponRequest{Merchant: s.id, Offer: "free coffee", ValidFor: client.Duration(time.Hour), Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.register[i%len(f.Nodes)].Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: batch.Coupons[i].Code}, Register: "till-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.register[last].Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: batch.Coupons[0].Code}, Register: "till-1"}); err == nil {
		t.Fatal("a coupon redeemed twice")
	}
	for i := range 3 {
		if _, err := s.register[i%len(f.Nodes)].Stamp(ctx, client.StampRequest{CardCode: card.Code, Register: "till-1"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range s.admin {
		eventually(t, fmt.Sprintf("node %d's figures count every node's work", i), func() (bool, error) {
			st, err := a.Stats(ctx, s.id, time.Time{}, time.Time{})
			ok := err == nil && st.CardsIssued == 1 && st.CouponsIssued == 3 && st.CouponsRedeemed == 2 && st.Stamps == 3 &&
				st.Refused["already_redeemed"] == 1
			if !ok && err == nil {
				err = fmt.Errorf("cards %d, coupons %d, redeemed %d, stamps %d, refused %v", st.CardsIssued, st.CouponsIssued,
					st.CouponsRedeemed, st.Stamps, st.Refused)
			}
			return ok, err
		})
	}
}

func TestFleetOnASharedLedger(t *testing.T) {
	store := sharedtest.Open(t)
	f := testserver.StartFleet(t, []storage.Shared{store.Node(), store.Node(), store.Node()})
	fleetCases(t, f)
}

// fleetCases are what a fleet of three nodes must show on any shared
// backend (the shared bbolt test store and a real etcd cluster alike).
func fleetCases(t *testing.T, f *testserver.Fleet) {
	t.Run("100 redemptions of a coupon of max_uses 1 over 3 nodes", func(t *testing.T) { raceForOneCoupon(t, f, 1) })
	t.Run("100 redemptions of a coupon of max_uses 3 over 3 nodes", func(t *testing.T) { raceForOneCoupon(t, f, 3) })
	t.Run("credentials issued on one node are used at once on another", func(t *testing.T) { issueHereUseThere(t, f) })
	t.Run("a sale begun on one node goes on at once on another", func(t *testing.T) { saleMovesNode(t, f) })
	t.Run("one card stamped through 3 nodes at once", func(t *testing.T) { stampOneCardEverywhere(t, f, 95) })
	t.Run("a block, a compromised key and a revoked API key reach every node", func(t *testing.T) { changesReachEveryNode(t, f) })
	t.Run("one card at two nodes is one copied-card alert", func(t *testing.T) { oneCardAtTwoNodes(t, f) })
	t.Run("the owner's figures count every node's work", func(t *testing.T) { figuresCountEveryNode(t, f) })
	t.Run("shops placed on one node are known to every node's detectors", func(t *testing.T) { shopsReachEveryNode(t, f) })
}
