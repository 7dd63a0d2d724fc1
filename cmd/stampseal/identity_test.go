package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/keys"
)

// server is a running stampseal binary with the client that reaches it.
type server = proc

// serveWith starts the binary with args after "serve" and waits for
// /healthz over scheme with client.
func serveWith(t *testing.T, bin, scheme string, client *http.Client, args []string, env ...string) *server {
	t.Helper()
	return serveOn(t, bin, freeAddr(t), scheme, client, args, env...)
}

// serveOn is serveWith on addr (host:port); it is reached on 127.0.0.1.
func serveOn(t *testing.T, bin, addr, scheme string, client *http.Client, args []string, env ...string) *server {
	t.Helper()
	return launch(t, bin, addr, scheme, client, args, append(os.Environ(), env...))
}

func TestKeysRewrapMovesEverythingToTheNewMasterKey(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	oldKey, newKey := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for _, f := range []string{oldKey, newKey} {
		text, _ := keys.NewMasterKeyText()
		os.WriteFile(f, []byte(text+"\n"), 0o600)
	}
	const admin = "rewrap-test-admin-token-1"
	p := serveWith(t, bin, "http", http.DefaultClient, []string{"--data", data, "--master-key-file", oldKey}, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"})
	p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-2", "name": "Other Bakery"})
	_, ik := p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "issuer", "name": "pos"})
	_, rk := p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "register", "name": "till"})
	issuer, till := ik["token"].(string), rk["token"].(string)
	_, minted := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "24h", "count": 2})
	c0 := minted["coupons"].([]any)[0].(map[string]any)
	c1 := minted["coupons"].([]any)[1].(map[string]any)
	p.stop()

	// A rewrap from a wrong old key changes nothing.
	if out, err := exec.Command(bin, "keys", "rewrap", "--data", data, "--master-key-file", newKey, "--new-master-key-file", oldKey).CombinedOutput(); err == nil {
		t.Fatalf("rewrap with the wrong old key succeeded: %s", out)
	}
	out, err := exec.Command(bin, "keys", "rewrap", "--data", data, "--master-key-file", oldKey, "--new-master-key-file", newKey).CombinedOutput()
	if err != nil {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "2 keysets") || !strings.Contains(string(out), "2 codes") {
		t.Errorf("rewrap said %q; want 2 keysets and 2 codes", out)
	}
	// Rewrapping again to the key it is already under is refused.
	if out, err := exec.Command(bin, "keys", "rewrap", "--data", data, "--master-key-file", newKey, "--new-master-key-file", newKey).CombinedOutput(); err == nil {
		t.Errorf("rewrap to the same key succeeded: %s", out)
	}

	// The old key no longer opens the data: serve refuses to start.
	cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data", data, "--master-key-file", oldKey)
	done := make(chan error, 1)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Start()
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(log.String(), "wrong master key") {
			t.Errorf("serve with the old key: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve with the old key kept running")
	}

	// The new key opens everything: keysets sign and verify, the
	// short-code secret and sealed codes open.
	q := serveWith(t, bin, "http", http.DefaultClient, []string{"--data", data, "--master-key-file", newKey})
	if st, body := q.call(till, "POST", "/v1/redeem", map[string]any{"code": c0["code"], "register": "till-1"}); st != 200 {
		t.Errorf("redeem after rewrap: %d %v", st, body)
	}
	if st, _ := q.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "y", "count": 1}); st != 201 {
		t.Errorf("issuing after rewrap: %d", st)
	}
	req, _ := http.NewRequest("GET", q.base+"/v1/credentials/"+c1["serial"].(string)+"/barcode.png?symbology=qr", nil)
	req.Header.Set("Authorization", "Bearer "+issuer)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("barcode of a sealed code after rewrap: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	st, trail := q.call(admin, "GET", "/v1/audit?merchant=*", nil)
	if st != 200 || !strings.Contains(mustJSON(trail), `"keys_rewrapped"`) {
		t.Errorf("audit trail after rewrap: %d %v", st, trail)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// testCert writes a self-signed certificate for 127.0.0.1 and returns the
// file paths and a client that trusts it.
func testCert(t *testing.T) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stampseal test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(priv)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestServeOverTLS(t *testing.T) {
	bin := binary(t)
	certFile, keyFile, client := testCert(t)
	const admin = "tls-test-admin-token-1234"
	s := serveWith(t, bin, "https", client, []string{"--data", filepath.Join(t.TempDir(), "data"), "--tls-cert", certFile, "--tls-key", keyFile},
		"STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	if st, body := s.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"}); st != 201 {
		t.Fatalf("create merchant over https: %d %v", st, body)
	}
	// The review page's cookies are Secure over TLS, and HSTS is sent.
	resp, err := client.Get(s.base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) == 0 || !cookies[0].Secure {
		t.Errorf("sign-in cookie over https: %v, want Secure", cookies)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security over https")
	}
	// Plain HTTP to the TLS port gets no API answer.
	plain := "http" + strings.TrimPrefix(s.base, "https")
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS port answered 200: %s", body)
		}
	}
}

func TestServeRefusesPlaintextOffLoopback(t *testing.T) {
	bin := binary(t)
	port := freeAddr(t)[len("127.0.0.1:"):]
	certFile, _, _ := testCert(t)
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"all interfaces without TLS":      {[]string{"--addr", "0.0.0.0:" + port}, "--insecure-plaintext"},
		"empty host without TLS":          {[]string{"--addr", ":" + port}, "--insecure-plaintext"},
		"a certificate without its key":   {[]string{"--addr", "127.0.0.1:" + port, "--tls-cert", certFile}, "--tls-key"},
		"a certificate file that is none": {[]string{"--addr", "127.0.0.1:" + port, "--tls-cert", "/dev/null", "--tls-key", "/dev/null"}, "--tls-cert"},
	} {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			out, err := exec.Command(bin, append([]string{"serve", "--data", data}, c.args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Errorf("serve %v: %v, want a refusal naming %s:\n%s", c.args, err, c.want, out)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("a refused start created the data directory")
			}
		})
	}
	// --insecure-plaintext lets it start (behind a proxy on the host).
	s := serveOn(t, bin, "0.0.0.0:"+port, "http", http.DefaultClient, []string{"--data", filepath.Join(t.TempDir(), "data"), "--insecure-plaintext"})
	s.stop()
}

// TestAuditTrailIsKeptInBackups takes an online backup, restores it and
// reads the trail from the restored server: the entries made before the
// backup, the backup itself and the restore are there.
func TestAuditTrailIsKeptInBackups(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "audit-backup-admin-token-1"
	p := serveWith(t, bin, "http", http.DefaultClient, []string{"--data", data}, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"})
	snapshot := p.fetch(admin, "/v1/admin/backup", "snapshot.db")
	p.stop()

	restored := filepath.Join(t.TempDir(), "restored")
	os.MkdirAll(restored, 0o700)
	master, _ := os.ReadFile(filepath.Join(data, "master.key"))
	os.WriteFile(filepath.Join(restored, "master.key"), master, 0o600)
	if out, err := exec.Command(bin, "restore", "--data", restored, "--in", snapshot).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	q := serveWith(t, bin, "http", http.DefaultClient, []string{"--data", restored})
	_, service := q.call(admin, "GET", "/v1/audit?merchant=*", nil)
	_, bakery := q.call(admin, "GET", "/v1/audit?merchant=bakery-1", nil)
	got := mustJSON(service) + mustJSON(bakery)
	for _, want := range []string{`"backup_restored"`, `"backup_taken"`, `"merchant_created"`} {
		if !strings.Contains(got, want) {
			t.Errorf("restored trail lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, admin) {
		t.Error("the trail carries a token")
	}
}

func TestAPIKeyListAndRevokeCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	cli := func(args ...string) (map[string]any, error) {
		t.Helper()
		out.Reset()
		errb.Reset()
		err := run(append(args, "--data", data), &out, &errb)
		var m map[string]any
		json.Unmarshal(out.Bytes(), &m)
		return m, err
	}
	if _, err := cli("merchant", "create", "--id", "bakery-1", "--name", "Corner Bakery"); err != nil {
		t.Fatal(err, errb.String())
	}
	created, err := cli("apikey", "create", "--merchant", "bakery-1", "--role", "register", "--name", "till 3", "--expires-in", "720h")
	if err != nil || created["token"] == nil || created["expires_at"] == nil {
		t.Fatalf("apikey create: %v %v", err, created)
	}
	token, id := created["token"].(string), created["id"].(string)
	list, err := cli("apikey", "list", "--merchant", "bakery-1")
	if err != nil || strings.Contains(out.String(), token) || strings.Contains(out.String(), "hash") {
		t.Fatalf("apikey list: %v, or it shows the token:\n%s", err, out.String())
	}
	if keys := list["apikeys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["id"] != id {
		t.Fatalf("apikey list = %v", list)
	}
	if _, err := cli("apikey", "revoke", "--id", id); err == nil {
		t.Error("revoke without a reason succeeded")
	}
	revoked, err := cli("apikey", "revoke", "--id", id, "--reason", "till stolen")
	if err != nil || revoked["apikey"].(map[string]any)["revoked_at"] == nil {
		t.Fatalf("apikey revoke: %v %v", err, revoked)
	}
	list, _ = cli("apikey", "list", "--merchant", "bakery-1")
	if list["apikeys"].([]any)[0].(map[string]any)["revoked_at"] == nil {
		t.Errorf("listed after revoke: %v", list)
	}
	if _, err := cli("apikey", "revoke", "--id", "key_nope", "--reason", "x"); err == nil {
		t.Error("revoking an unknown key succeeded")
	}
}
