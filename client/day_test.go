package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
)

func TestRegistersDayThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "bistro")
	batch, err := sh.issuer.IssueCoupons(ctx, client.CouponRequest{Merchant: sh.id, Offer: "dessert", MaxUses: 1, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	cp := batch.Coupons[0]

	// Hold the use while the card payment runs; nobody else gets it.
	hold, err := sh.register.Reserve(ctx, client.ReserveRequest{Code: client.Code{Code: cp.Code}, Register: "till-1", TTL: client.Duration(2 * time.Minute), IdempotencyKey: "h-1"})
	if err != nil || hold.ReservationID == "" || hold.Serial != cp.Serial || hold.ExpiresAt.Before(time.Now()) {
		t.Fatalf("Reserve = %+v, %v", hold, err)
	}
	_, err = sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: cp.Code}, Register: "till-2"})
	e := wantCode(t, err, 409, client.CodeReserved)
	if e.Register != "till-1" || !e.ExpiresAt.Equal(hold.ExpiresAt) {
		t.Fatalf("reserved carries %q until %v, want till-1 until %v", e.Register, e.ExpiresAt, hold.ExpiresAt)
	}
	// The payment failed: release, hold again, confirm.
	if err := sh.register.ReleaseReservation(ctx, hold.ReservationID); err != nil {
		t.Fatalf("ReleaseReservation: %v", err)
	}
	hold, err = sh.register.Reserve(ctx, client.ReserveRequest{Code: client.Code{Code: cp.Code}, IdempotencyKey: "h-2"})
	if err != nil {
		t.Fatalf("Reserve after a release: %v", err)
	}
	red, err := sh.register.ConfirmReservation(ctx, hold.ReservationID, "c-1")
	if err != nil || !red.Redeemed || red.RedemptionID == "" || red.UsesLeft != 0 {
		t.Fatalf("ConfirmReservation = %+v, %v", red, err)
	}

	// The sale is voided: the use comes back.
	v, err := sh.register.VoidRedemption(ctx, red.RedemptionID, "customer changed their mind")
	if err != nil || !v.Voided || v.Serial != cp.Serial || v.UsesLeft != 1 {
		t.Fatalf("VoidRedemption = %+v, %v", v, err)
	}
	again, err := sh.register.VoidRedemption(ctx, red.RedemptionID, "twice")
	if err != nil || again != v {
		t.Fatalf("a second void = %+v, %v; want the first answer %+v", again, err, v)
	}

	// Stamps, voided.
	if _, err := sh.issuer.CreateProgram(ctx, client.Program{Merchant: sh.id, ID: "soup", StampsRequired: 5, Reward: "soup"}); err != nil {
		t.Fatal(err)
	}
	card, err := sh.issuer.IssueCard(ctx, sh.id, "soup")
	if err != nil {
		t.Fatal(err)
	}
	up, err := sh.register.Stamp(ctx, client.StampRequest{CardCode: card.Code, Stamps: 2})
	if err != nil || up.StampID == "" {
		t.Fatalf("Stamp = %+v, %v", up, err)
	}
	sv, err := sh.register.VoidStamp(ctx, up.StampID, "wrong card")
	if err != nil || sv.Serial != card.Serial || sv.Stamps != 0 || sv.RewardKept {
		t.Fatalf("VoidStamp = %+v, %v", sv, err)
	}

	// With a void window of zero, voids are refused.
	set, err := sh.admin.SetSettings(ctx, sh.id, client.Settings{VoidWindow: 0})
	if err != nil || set.VoidWindow != 0 {
		t.Fatalf("SetSettings = %+v, %v", set, err)
	}
	got, err := sh.auditor.Settings(ctx, sh.id)
	if err != nil || got != set {
		t.Fatalf("Settings = %+v, %v; want %+v", got, err, set)
	}
	up, err = sh.register.Stamp(ctx, client.StampRequest{CardCode: card.Code})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sh.register.VoidStamp(ctx, up.StampID, "late")
	wantCode(t, err, 409, client.CodeVoidWindowPassed)
}
