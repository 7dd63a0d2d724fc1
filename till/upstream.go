package till

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stampseal/stampseal/client"
)

// upstream is every call the agent makes to the server. Snapshots and
// syncs go through the typed client. Register calls are forwarded as raw
// bytes instead: the point of sale must get the server's answer exactly as
// sent (status, every field), which decoding into types and encoding again
// would not keep.
type upstream struct {
	base    string
	token   string
	http    *http.Client
	client  *client.Client
	timeout time.Duration // of a register call or a snapshot
}

// syncTimeout bounds one sync batch: the server decides up to a few
// hundred operations, each with a durable commit.
const syncTimeout = time.Minute

func newUpstream(base, token string, timeout time.Duration) (*upstream, error) {
	u := &upstream{base: strings.TrimRight(base, "/"), token: token, timeout: timeout, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
	}}
	var err error
	u.client, err = client.New(u.base, client.WithToken(token), client.WithHTTPClient(u.http), client.WithUserAgent("stampseal-till/1"))
	return u, err
}

// errUnreachable is an upstream that did not answer, or answered 5xx:
// the agent decides alone.
var errUnreachable = errors.New("server unreachable")

// maxAnswer bounds what the agent reads of one answer.
const maxAnswer = 4 << 20

// answer is the server's reply, passed to the point of sale unchanged.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (u *upstream) do(ctx context.Context, timeout time.Duration, method, path string, body []byte, header http.Header) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("User-Agent", "stampseal-till/1")
	resp, err := u.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%w: %s %s: %v", errUnreachable, method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return answer{}, fmt.Errorf("%w: %s %s: read answer: %v", errUnreachable, method, path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: raw}
	if resp.StatusCode >= 500 {
		return a, fmt.Errorf("%w: %s %s answered %d", errUnreachable, method, path, resp.StatusCode)
	}
	return a, nil
}

// forward sends a point of sale's request on and returns the server's answer.
func (u *upstream) forward(ctx context.Context, path string, body []byte) (answer, error) {
	return u.do(ctx, u.timeout, "POST", path, body, nil)
}

// snapshot fetches the snapshot unless etag is still current; then it
// returns notModified.
func (u *upstream) snapshot(ctx context.Context, etag string) (raw []byte, newETag string, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	snap, err := u.client.Snapshot(ctx, etag)
	if err != nil {
		return nil, "", false, classify(err)
	}
	if snap.NotModified {
		return nil, etag, true, nil
	}
	return snap.Body, snap.ETag, false, nil
}

// sync sends queued operations and returns the server's results.
func (u *upstream) sync(ctx context.Context, ops []client.SyncOperation) ([]client.SyncResult, error) {
	ctx, cancel := context.WithTimeout(ctx, max(u.timeout, syncTimeout))
	defer cancel()
	res, err := u.client.Sync(ctx, ops)
	return res, classify(err)
}

// classify marks the client's errors that mean "no server": no answer at
// all, or a 5xx.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if st := client.StatusOf(err); st == 0 || st >= 500 {
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return err
}
