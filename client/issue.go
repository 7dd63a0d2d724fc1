package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Kinds of credentials.
const (
	KindCard   = "card"
	KindPunch  = "punch"
	KindCoupon = "coupon"
)

// Limits bound stamps and claims on a program's cards; 0 means none.
type Limits struct {
	PerRequest int `json:"per_request"`
	PerHour    int `json:"per_hour"`
	PerDay     int `json:"per_day"`
}

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// OfflinePolicy says whether till agents may accept a credential while
// cut off from the server, and for how long.
type OfflinePolicy struct {
	Allowed    *bool    `json:"allowed,omitempty"`    // nil: allowed
	MaxOffline Duration `json:"max_offline,omitzero"` // zero: the server's default (24h)
}

// Program is a stamp-card program.
type Program struct {
	Merchant       string         `json:"merchant"`
	ID             string         `json:"id"`
	StampsRequired int            `json:"stamps_required"`
	Reward         string         `json:"reward"`
	RewardValidFor Duration       `json:"reward_valid_for,omitzero"` // zero: the server's default
	Limits         *Limits        `json:"limits,omitempty"`          // nil: defaults that fit a coffee shop
	Value          *Money         `json:"value,omitempty"`
	Offline        *OfflinePolicy `json:"offline,omitempty"`
	CreatedAt      time.Time      `json:"created_at,omitzero"` // in answers
}

// CreateProgram is POST /v1/programs (issuer or admin).
func (c *Client) CreateProgram(ctx context.Context, p Program) (Program, error) {
	var out Program
	err := c.call(ctx, request{method: "POST", path: "/v1/programs", body: p}, &out)
	return out, err
}

// Credential is an issued card, punch or coupon. Its code and short code
// are shown to the customer; keep them out of logs.
type Credential struct {
	Serial    string    `json:"serial"`
	Code      string    `json:"code"`
	Kind      string    `json:"kind"`
	ShortCode string    `json:"short_code,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// IssueCard is POST /v1/cards (issuer or admin).
func (c *Client) IssueCard(ctx context.Context, merchant, program string) (Credential, error) {
	var out Credential
	body := struct {
		Merchant string `json:"merchant"`
		Program  string `json:"program"`
	}{merchant, program}
	err := c.call(ctx, request{method: "POST", path: "/v1/cards", body: body}, &out)
	return out, err
}

// PunchRequest is the body of POST /v1/punches.
type PunchRequest struct {
	Merchant string   `json:"merchant"`
	Program  string   `json:"program"`
	Stamps   int      `json:"stamps,omitempty"`   // zero: 1
	ValidFor Duration `json:"valid_for,omitzero"` // zero: the server's default
}

// IssuePunch is POST /v1/punches (issuer or admin).
func (c *Client) IssuePunch(ctx context.Context, r PunchRequest) (Credential, error) {
	var out Credential
	err := c.call(ctx, request{method: "POST", path: "/v1/punches", body: r}, &out)
	return out, err
}

// CouponRequest is the body of POST /v1/coupons.
type CouponRequest struct {
	Merchant  string         `json:"merchant"`
	Offer     string         `json:"offer"`
	ValidFor  Duration       `json:"valid_for,omitzero"`
	NotBefore time.Time      `json:"not_before,omitzero"`
	MaxUses   int            `json:"max_uses,omitempty"`
	Count     int            `json:"count,omitempty"`
	Value     *Money         `json:"value,omitempty"`
	Offline   *OfflinePolicy `json:"offline,omitempty"`
}

// CouponBatch is the answer of POST /v1/coupons.
type CouponBatch struct {
	Coupons []Credential   `json:"coupons"`
	Batch   string         `json:"batch,omitempty"` // with an offline policy: the batch it is kept under
	Offline *OfflinePolicy `json:"offline,omitempty"`
}

// IssueCoupons is POST /v1/coupons (issuer or admin).
func (c *Client) IssueCoupons(ctx context.Context, r CouponRequest) (CouponBatch, error) {
	var out CouponBatch
	err := c.call(ctx, request{method: "POST", path: "/v1/coupons", body: r}, &out)
	return out, err
}

// Symbologies a barcode can be drawn in.
const (
	QR         = "qr"
	Aztec      = "aztec"
	PDF417     = "pdf417"
	DataMatrix = "datamatrix"
	Code128    = "code128" // carries the short code
)

// BarcodeOptions choose a barcode image; zero values are the server's
// defaults.
type BarcodeOptions struct {
	Symbology string
	Size      int    // pixels
	Merchant  string // for an all-merchants admin key
	// ETag of an image held; a match answers NotModified without a body.
	IfNoneMatch string
}

// Image is a rendered image.
type Image struct {
	ContentType string
	ETag        string
	NotModified bool // the IfNoneMatch ETag still holds; Data is empty
	Data        []byte
}

func (o BarcodeOptions) query() url.Values {
	q := url.Values{}
	set(q, "symbology", o.Symbology)
	setInt(q, "size", o.Size)
	set(q, "merchant", o.Merchant)
	return q
}

// BarcodePNG is GET /v1/credentials/{serial}/barcode.png.
func (c *Client) BarcodePNG(ctx context.Context, serial string, o BarcodeOptions) (Image, error) {
	r := request{method: "GET", path: "/v1/credentials/" + seg(serial) + "/barcode.png", query: o.query()}
	if o.IfNoneMatch != "" {
		r.header = http.Header{"If-None-Match": {o.IfNoneMatch}}
	}
	return c.image(ctx, r)
}

// BarcodeSVG is GET /v1/credentials/{serial}/barcode.svg.
func (c *Client) BarcodeSVG(ctx context.Context, serial string, o BarcodeOptions) (Image, error) {
	return c.image(ctx, request{method: "GET", path: "/v1/credentials/" + seg(serial) + "/barcode.svg", query: o.query()})
}

// CardPNG is GET /v1/credentials/{serial}/card.png: a printable stamp card.
func (c *Client) CardPNG(ctx context.Context, serial, merchant string) (Image, error) {
	q := url.Values{}
	set(q, "merchant", merchant)
	return c.image(ctx, request{method: "GET", path: "/v1/credentials/" + seg(serial) + "/card.png", query: q})
}

// SheetRequest is the body of POST /v1/coupons/sheet.pdf.
type SheetRequest struct {
	Merchant string   `json:"merchant"`
	Title    string   `json:"title,omitempty"`
	Serials  []string `json:"serials"`
}

// CouponSheetPDF is POST /v1/coupons/sheet.pdf: printable coupons.
func (c *Client) CouponSheetPDF(ctx context.Context, r SheetRequest) ([]byte, error) {
	return c.bytesOf(ctx, request{method: "POST", path: "/v1/coupons/sheet.pdf", body: r})
}

func (c *Client) image(ctx context.Context, r request) (Image, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return Image{}, err
	}
	defer resp.Body.Close()
	img := Image{ContentType: resp.Header.Get("Content-Type"), ETag: resp.Header.Get("ETag"), NotModified: resp.StatusCode == http.StatusNotModified}
	if !img.NotModified {
		if img.Data, err = io.ReadAll(resp.Body); err != nil {
			return Image{}, fmt.Errorf("client: %s %s: read image: %w", r.method, r.path, err)
		}
	}
	return img, nil
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setInt(q url.Values, k string, v int) {
	if v != 0 {
		q.Set(k, strconv.Itoa(v))
	}
}

func setTime(q url.Values, k string, t time.Time) {
	if !t.IsZero() {
		q.Set(k, t.UTC().Format(time.RFC3339Nano))
	}
}
