// Package client is a typed Go client of stampseal's HTTP API v1 (the
// contract in docs/api.md). Every call takes a context, sends the client's
// bearer token, and returns either the decoded answer or an *Error that
// carries the contract's error code and details.
//
// The client depends on no other stampseal package: its types are the
// wire format of the contract, so a program that only talks to a server
// (a till agent, a load generator, a test) needs nothing else.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to one stampseal server as one API key. It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	agent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the API key sent as the bearer token.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the http.Client that sends the requests (timeouts,
// transport, TLS). The default is http.DefaultClient.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client of the server at baseURL ("http://127.0.0.1:8080").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q must be http:// or https:// with a host", baseURL)
	}
	c := &Client{base: u, http: http.DefaultClient, agent: "stampseal-client/1"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// As returns a client of the same server and http.Client that sends token
// instead: an admin creates a register key, then acts as that register.
func (c *Client) As(token string) *Client {
	d := *c
	d.token = token
	return &d
}

// BaseURL is the server's address as given to New.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one call: the route, and what a success looks like.
type request struct {
	method string
	path   string     // with path parameters already escaped
	query  url.Values // optional
	body   any        // JSON-encoded when not nil
	header http.Header
}

// send performs r and returns the response of a success; any other status
// is returned as an *Error. The caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u, err := url.Parse(c.base.String() + r.path)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		raw, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: encode %s %s: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	// Any 2xx is a success: the contract names the status the
	// server sends (201 for a creation), and the OpenAPI test holds it to that.
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified && r.header.Get("If-None-Match") != "" {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(r.method, r.path, resp)
}

// call performs r and decodes a JSON success into out (when not nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", r.method, r.path, err)
	}
	return nil
}

// bytesOf performs r and returns the whole body of a success.
func (c *Client) bytesOf(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: read answer: %w", r.method, r.path, err)
	}
	return b, nil
}

// Health asks GET /healthz; nil means the server is serving.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, request{method: "GET", path: "/healthz"}, nil)
}

// OpenAPI fetches the server's OpenAPI description of this contract.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	return c.bytesOf(ctx, request{method: "GET", path: "/v1/openapi.yaml"})
}

// Metrics fetches GET /metrics, the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	return c.bytesOf(ctx, request{method: "GET", path: "/metrics"})
}

// seg escapes one path segment (a serial, an id).
func seg(s string) string { return url.PathEscape(s) }

// errNoID guards calls whose path needs an id.
var errNoID = errors.New("client: an id is required")

// act is POST /v1/{collection}/{id}/{action}: an action on one thing (a
// reservation, a key, a credential). An empty id is refused before any
// request is sent.
func (c *Client) act(ctx context.Context, collection, id, action string, query url.Values, body, out any) error {
	if id == "" {
		return errNoID
	}
	return c.call(ctx, request{method: "POST", path: "/v1/" + collection + "/" + seg(id) + "/" + action, query: query, body: body}, out)
}

// actFor is act with its answer decoded into a T.
func actFor[T any](ctx context.Context, c *Client, collection, id, action string, query url.Values, body any) (T, error) {
	var out T
	err := c.act(ctx, collection, id, action, query, body, &out)
	return out, err
}
