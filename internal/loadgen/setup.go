package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/stampseal/stampseal/client"
)

// benchShop is the bench's merchant and its keys. Each client mints with
// issuer keys of its own, as every point of sale has one: one key would hit
// the server's per-key issuance limit (429 rate_limited).
type benchShop struct {
	merchant  string
	issuers   []string // for the issue operation
	registers []string
}

// setup creates a merchant of its own, keys, a program without limits,
// coupons and cards.
func (c *Config) setup(b *benchClient, stderr io.Writer) error {
	start := time.Now()
	rnd := make([]byte, 4)
	rand.Read(rnd)
	b.run = hex.EncodeToString(rnd)
	sh := benchShop{merchant: "bench-" + b.run}
	ctx := context.Background()
	if _, err := b.api.CreateMerchant(ctx, sh.merchant, "Bench Bakery"); err != nil {
		return err
	}
	key := func(role, name string) (string, error) {
		k, err := b.api.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: sh.merchant, Role: role, Name: name})
		return k.Token, err
	}
	// Setup mints with keys of its own, at most 1,500 credentials each
	// (below the default burst of the issuance limit).
	var setupIssuers []string
	for i := range (c.Coupons+c.Cards)/1500 + 1 {
		t, err := key("issuer", fmt.Sprintf("bench setup %d", i+1))
		if err != nil {
			return err
		}
		setupIssuers = append(setupIssuers, t)
	}
	for i := range c.Clients {
		t, err := key("issuer", fmt.Sprintf("bench pos %d", i+1))
		if err != nil {
			return err
		}
		sh.issuers = append(sh.issuers, t)
	}
	for i := range c.Registers {
		t, err := key("register", fmt.Sprintf("bench till %d", i+1))
		if err != nil {
			return err
		}
		sh.registers = append(sh.registers, t)
	}
	b.shop = sh
	if _, err := b.api.As(setupIssuers[0]).CreateProgram(ctx, client.Program{Merchant: sh.merchant, ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", Limits: &client.Limits{}}); err != nil {
		return err
	}
	// The pool holds the minted coupons and those the issue operation adds.
	b.pool = make(chan string, c.Coupons+int(float64(max(c.Rate, 4000))*c.Duration.Seconds())+1)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan func() error)
	for range min(c.Clients, 8) {
		wg.Go(func() {
			for job := range jobs {
				if err := job(); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	minted := 0 // credentials per setup key: minted/1500 picks the key
	for left := c.Coupons; left > 0; left -= 1000 {
		n := min(left, 1000)
		issuer := setupIssuers[minted/1500]
		minted += n
		jobs <- func() error {
			out, err := b.api.As(issuer).IssueCoupons(ctx, client.CouponRequest{Merchant: sh.merchant, Offer: "bench",
				ValidFor: client.Duration(168 * time.Hour), MaxUses: 1, Count: n})
			for _, cp := range out.Coupons {
				b.pool <- cp.Code
			}
			return err
		}
	}
	cards := make([]string, c.Cards)
	for i := range cards {
		issuer := setupIssuers[minted/1500]
		minted++
		jobs <- func() error {
			out, err := b.api.As(issuer).IssueCard(ctx, sh.merchant, "coffee")
			cards[i] = out.Code
			return err
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("setup: %w", firstErr)
	}
	b.cards = cards
	fmt.Fprintf(stderr, "bench: merchant %s, %d registers, %d coupons and %d cards ready in %v\n",
		sh.merchant, len(sh.registers), len(b.pool), len(cards), time.Since(start).Round(time.Millisecond))
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
