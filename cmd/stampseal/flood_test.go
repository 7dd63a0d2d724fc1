package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startWith runs the binary with extra serve flags, as start does, with
// exactly the environment env.
func startWith(t *testing.T, bin, data string, env []string, flags ...string) *proc {
	t.Helper()
	return launch(t, bin, freeAddr(t), "http", http.DefaultClient, append([]string{"--data", data}, flags...), env)
}

// slowLogin opens a connection that posts a sign-in form one byte at a
// time until ctx ends or the server hangs up; it reports whether the
// server answered and closed.
func slowLogin(ctx context.Context, addr string) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /ui/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n", addr)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("k")); err != nil {
			return
		}
	}
}

// TestSlowSignInFloodLeavesRegistersServed floods a real server with slow
// sign-in bodies from one address, more than all its in-flight slots,
// while a register keeps redeeming: every redemption must succeed, the
// health check must answer, and the flooding address must end up cut off.
func TestSlowSignInFloodLeavesRegistersServed(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "flood-test-admin-token-0123456789"
	p := startWith(t, bin, data, []string{"STAMPSEAL_BOOTSTRAP_TOKEN=" + admin}, "--max-in-flight", "64")
	ik, rk := p.bakery(admin)
	issuer, till := ik["token"].(string), rk["token"].(string)
	const redemptions = 30
	_, minted := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "24h", "count": redemptions})
	var codes []string
	for _, c := range minted["coupons"].([]any) {
		codes = append(codes, c.(map[string]any)["code"].(string))
	}

	// 100 slow sign-ins: more than the 64 slots of the whole server.
	addr := strings.TrimPrefix(p.base, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	var flood sync.WaitGroup
	for range 100 {
		flood.Add(1)
		go func() { defer flood.Done(); slowLogin(ctx, addr) }()
	}
	defer func() { cancel(); flood.Wait() }()

	// Wait until the flood is felt: a request without a key is refused.
	client := &http.Client{Timeout: 10 * time.Second}
	felt := false
	for i := 0; i < 100 && !felt; i++ {
		resp, err := client.Post(p.base+"/ui/login", "application/x-www-form-urlencoded", strings.NewReader("key=x"))
		if err == nil {
			resp.Body.Close()
			felt = resp.StatusCode == 503 || resp.StatusCode == 429
		}
		if !felt {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !felt {
		t.Fatal("the flood never filled the budget for requests without a key")
	}

	for i, code := range codes {
		raw, _ := json.Marshal(map[string]any{"code": code, "register": "till-1"})
		req, _ := http.NewRequest("POST", p.base+"/v1/redeem", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+till)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("redemption %d during the flood: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("redemption %d during the flood = %d %s, want 200", i, resp.StatusCode, body)
		}
		if i%10 == 0 {
			h, err := client.Get(p.base + "/healthz")
			if err != nil {
				t.Fatalf("healthz during the flood: %v", err)
			}
			h.Body.Close()
			if h.StatusCode != 200 {
				t.Fatalf("healthz during the flood = %d", h.StatusCode)
			}
		}
	}

	// The flooding address is cut off for requests without a key ...
	resp, err := client.Get(p.base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || !strings.Contains(string(body), "cut_off") {
		t.Errorf("sign-in page from the flooding address = %d %.200s, want 429 cut_off", resp.StatusCode, body)
	}
	// ... while another address still gets the sign-in page.
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	resp, err = other.Get(p.base + "/ui/login")
	if err != nil {
		t.Fatalf("sign-in page from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("sign-in page from another address during the flood = %d, want 200", resp.StatusCode)
	}
}

// A bootstrap token under 12 characters is refused; one under 32 starts
// with a loud warning (CI's smoke test uses 14 to 22 characters).
func TestShortBootstrapTokens(t *testing.T) {
	bin := binary(t)
	short := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data", filepath.Join(t.TempDir(), "data"))
	short.Env = []string{"STAMPSEAL_BOOTSTRAP_TOKEN=eleven-char"}
	out, err := short.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing a bootstrap admin token under 12") {
		t.Errorf("11-character bootstrap token: err %v, output %s; want a refusal", err, out)
	}
	p := startWith(t, bin, filepath.Join(t.TempDir(), "data"), []string{"STAMPSEAL_BOOTSTRAP_TOKEN=smoke-admin-1234"})
	if st, _ := p.call("smoke-admin-1234", "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "B"}); st != 201 {
		t.Errorf("16-character bootstrap token does not work: %d", st)
	}
	if !strings.Contains(p.log.String(), "WEAK ADMIN KEY") {
		t.Errorf("no loud warning for a 16-character token:\n%s", p.log)
	}
}
