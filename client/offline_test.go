package client_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
)

func TestTillAgentCallsThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "kiosk")
	other, err := root.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: sh.id, Role: client.RoleRegister, Name: "till 2"})
	if err != nil {
		t.Fatal(err)
	}
	till2 := root.As(other.Token)

	snap, err := sh.register.Snapshot(ctx, "")
	if err != nil || snap.ETag == "" || snap.NotModified {
		t.Fatalf("Snapshot = %+v, %v", snap, err)
	}
	var doc struct {
		Merchant     string          `json:"merchant"`
		PublicKeyset json.RawMessage `json:"public_keyset"`
	}
	if err := json.Unmarshal(snap.Body, &doc); err != nil || doc.Merchant != sh.id || len(doc.PublicKeyset) == 0 {
		t.Fatalf("the snapshot body = %s, %v", snap.Body, err)
	}
	same, err := sh.register.Snapshot(ctx, snap.ETag)
	if err != nil || !same.NotModified || len(same.Body) != 0 {
		t.Fatalf("Snapshot with its ETag = %+v, %v; want NotModified", same, err)
	}

	batch, err := sh.issuer.IssueCoupons(ctx, client.CouponRequest{Merchant: sh.id, Offer: "tea", MaxUses: 1, Count: 1,
		Offline: &client.OfflinePolicy{MaxOffline: client.Duration(12 * time.Hour)}})
	if err != nil || batch.Batch == "" || batch.Offline == nil || batch.Offline.MaxOffline.D() != 12*time.Hour {
		t.Fatalf("IssueCoupons with an offline policy = %+v, %v", batch, err)
	}
	code := batch.Coupons[0].Code
	at := time.Now().UTC() // after issuance: a use before it is not_yet_valid
	res, err := sh.register.Sync(ctx, []client.SyncOperation{{Op: client.OpRedeem, Code: code, Register: "till-1", IdempotencyKey: "o1", At: at}})
	if err != nil || len(res) != 1 || res[0].Status != client.SyncApplied || res[0].Redemption == nil || res[0].Redemption.Serial != batch.Coupons[0].Serial {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	again, err := sh.register.Sync(ctx, []client.SyncOperation{{Op: client.OpRedeem, Code: code, Register: "till-1", IdempotencyKey: "o1", At: at}})
	if err != nil || len(again) != 1 || again[0].Status != client.SyncDuplicate || again[0].FirstStatus != client.SyncApplied {
		t.Fatalf("Sync again = %+v, %v; want a duplicate", again, err)
	}
	// The same coupon, spent at a second offline till a little later.
	lost, err := till2.Sync(ctx, []client.SyncOperation{{Op: client.OpRedeem, Code: code, Register: "till-2", IdempotencyKey: "o2", At: time.Now().UTC()}})
	if err != nil || len(lost) != 1 || lost[0].Status != client.SyncConflict || lost[0].Conflict == nil ||
		lost[0].Conflict.First.Register != "till-1" || lost[0].Conflict.Second.Register != "till-2" || len(lost[0].Raw) == 0 {
		t.Fatalf("Sync from a second till = %+v, %v; want a conflict naming both tills", lost, err)
	}
	losses, err := sh.admin.OfflineLosses(ctx, sh.id, 10)
	if err != nil || len(losses) != 1 || losses[0].Serial != batch.Coupons[0].Serial {
		t.Fatalf("OfflineLosses = %+v, %v", losses, err)
	}

	pol, err := sh.admin.SetMerchantOffline(ctx, sh.id, client.MerchantOfflinePolicy{Conflicts: "refuse", TillCaps: client.OfflineCaps{Redemptions: 20}})
	if err != nil || pol.Conflicts != "refuse" {
		t.Fatalf("SetMerchantOffline = %+v, %v", pol, err)
	}
	got, err := sh.auditor.MerchantOffline(ctx, sh.id)
	if err != nil || got != pol {
		t.Fatalf("MerchantOffline = %+v, %v; want %+v", got, err, pol)
	}
	_, err = sh.register.SetMerchantOffline(ctx, sh.id, pol)
	wantCode(t, err, 403, client.CodeForbidden)
}
