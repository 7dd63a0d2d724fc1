package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
)

func TestKeysAndAuditThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "market")
	till, err := sh.admin.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: sh.id, Role: client.RoleRegister, Name: "till 9", ExpiresIn: client.Duration(time.Hour)})
	if err != nil || till.ExpiresAt.IsZero() {
		t.Fatalf("CreateAPIKey with expires_in = %+v, %v", till, err)
	}
	if _, err := root.As(till.Token).Verify(ctx, client.Code{Code: "x"}); err != nil {
		t.Fatalf("the new key cannot verify: %v", err)
	}
	keys, err := sh.admin.APIKeys(ctx, sh.id)
	if err != nil {
		t.Fatal(err)
	}
	var found *client.APIKey
	for i := range keys {
		if keys[i].ID == till.ID {
			found = &keys[i]
		}
	}
	if found == nil || found.Name != "till 9" || found.LastUsedAt.IsZero() || !found.RevokedAt.IsZero() {
		t.Fatalf("APIKeys = %+v; want till 9, used, not revoked", keys)
	}
	if err := sh.admin.RevokeAPIKey(ctx, till.ID, "till stolen"); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	_, err = root.As(till.Token).Verify(ctx, client.Code{Code: "x"})
	wantCode(t, err, 401, client.CodeKeyRevoked)

	shop, err := sh.admin.CreateShop(ctx, client.Shop{Merchant: sh.id, ID: "north", Name: "North", Location: client.Location{Lat: 52.52, Lon: 13.40}})
	if err != nil || shop.ID != "north" || shop.Location.Lat != 52.52 || shop.CreatedAt.IsZero() {
		t.Fatalf("CreateShop = %+v, %v", shop, err)
	}
	placed, err := sh.admin.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: sh.id, Role: client.RoleRegister, Name: "north till", Shop: "north"})
	if err != nil {
		t.Fatalf("CreateAPIKey at a shop: %v", err)
	}
	_, err = sh.admin.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: sh.id, Role: client.RoleRegister, Name: "nowhere", Shop: "south"})
	wantCode(t, err, 400, client.CodeInvalidRequest)
	lifted, err := sh.auditor.LiftThrottle(ctx, "", placed.ID)
	if err != nil || lifted {
		t.Fatalf("LiftThrottle of an unthrottled key = %v, %v; want false", lifted, err)
	}

	batch, err := sh.issuer.IssueCoupons(ctx, client.CouponRequest{Merchant: sh.id, Offer: "apples", Count: 1, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	serial := batch.Coupons[0].Serial
	if err := sh.auditor.Block(ctx, "", serial, "suspicious"); err != nil {
		t.Fatal(err)
	}
	if err := sh.auditor.Unblock(ctx, "", serial, "cleared"); err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if v, err := sh.register.Verify(ctx, client.Code{Code: batch.Coupons[0].Code}); err != nil || !v.Valid {
		t.Fatalf("Verify after an unblock = %+v, %v", v, err)
	}
	events, err := sh.auditor.Audit(ctx, client.AuditFilter{Merchant: sh.id, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range events {
		actions[e.Action] = true
		if e.At.IsZero() || e.ActorKeyID == "" {
			t.Errorf("audit event without time or actor: %+v", e)
		}
	}
	for _, want := range []string{"apikey_revoked", "credential_blocked", "credential_unblocked"} {
		if !actions[want] {
			t.Errorf("Audit has no %s: %+v", want, events)
		}
	}
}
