package till

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stampseal/stampseal/offline"
)

// upstream is every call the agent makes to the server. All of them are in
// this file, so that they can move onto the typed client package as one.
type upstream struct {
	base    string
	token   string
	http    *http.Client
	timeout time.Duration // of a register call or a snapshot
}

// syncTimeout bounds one sync batch: the server decides up to a few
// hundred operations, each with a durable commit.
const syncTimeout = time.Minute

func newUpstream(base, token string, timeout time.Duration) *upstream {
	return &upstream{base: strings.TrimRight(base, "/"), token: token, timeout: timeout, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
	}}
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
	h := http.Header{}
	if etag != "" {
		h.Set("If-None-Match", etag)
	}
	a, err := u.do(ctx, u.timeout, "GET", "/v1/registers/snapshot", nil, h)
	if err != nil {
		return nil, "", false, err
	}
	switch a.status {
	case http.StatusNotModified:
		return nil, etag, true, nil
	case http.StatusOK:
		return a.body, a.header.Get("ETag"), false, nil
	}
	return nil, "", false, fmt.Errorf("snapshot: server answered %d: %s", a.status, errorCode(a.body))
}

// sync sends queued operations and returns the server's results.
func (u *upstream) sync(ctx context.Context, ops []offline.Operation) ([]offline.Result, error) {
	body, err := json.Marshal(map[string]any{"operations": ops})
	if err != nil {
		return nil, err
	}
	a, err := u.do(ctx, max(u.timeout, syncTimeout), "POST", "/v1/sync", body, nil)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("sync: server answered %d: %s", a.status, errorCode(a.body))
	}
	var out struct {
		Results []offline.Result `json:"results"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		return nil, fmt.Errorf("sync: decode answer: %w", err)
	}
	return out.Results, nil
}

// errorCode is the contract's error code in an answer, for logs.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error.Code
}
