package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/keyed"
	"github.com/stampseal/stampseal/keys"
)

// ShortCodes derives a credential's short code from its serial.
type ShortCodes interface {
	Derive(serial []byte) string
}

// maxSheetHTTP bounds a sheet rendered on a request (10 pages).
const maxSheetHTTP = 120

// Who may fetch a credential's images: they carry the code itself, so only
// the roles that mint codes. A register is handed the code it needs in the
// answer that issued or stamped it; letting it render any serial would let
// one till fetch another customer's reward (red-team finding, issue 20).
var imageRoles = []access.Role{access.Issuer, access.Admin}

func (a *API) routeBarcodes(r *mux.Router) {
	a.handle(r, "GET", "/v1/credentials/{serial}/barcode.png", a.barcodePNG, imageRoles...)
	a.handle(r, "GET", "/v1/credentials/{serial}/barcode.svg", a.barcodeSVG, imageRoles...)
	a.handle(r, "GET", "/v1/credentials/{serial}/card.png", a.cardPNG, imageRoles...)
	a.handle(r, "POST", "/v1/coupons/sheet.pdf", a.couponSheet, access.Issuer, access.Admin)
}

// credentialFor loads a credential of the key's merchant; another
// merchant's serial is 404, like one that does not exist.
func (a *API) credentialFor(r *http.Request, k access.Key) (string, credential.Record, error) {
	serial := mux.Vars(r)["serial"]
	merchant, _ := k.MerchantFor(r.URL.Query().Get("merchant"))
	rec, err := a.Verifier.Record(merchant, serial)
	return serial, rec, err
}

// symbol finds the credential of the request and what its symbol carries.
func (a *API) symbol(r *http.Request, k access.Key) (serial string, sym barcode.Symbology, size int, content string, err error) {
	serial, rec, err := a.credentialFor(r, k)
	if err != nil {
		return "", "", 0, "", err
	}
	sym, size, content, err = a.barcodeContent(r, serial, rec)
	return serial, sym, size, content, err
}

// barcodeContent is what a symbol carries: the signed code, except for
// Code 128, which is too small for it and carries the short code.
func (a *API) barcodeContent(r *http.Request, serial string, rec credential.Record) (barcode.Symbology, int, string, error) {
	q := r.URL.Query()
	sym, err := barcode.ParseSymbology(q.Get("symbology"))
	if err != nil {
		return "", 0, "", badRequest("invalid_request", errors.New("symbology must be qr, aztec, pdf417, datamatrix or code128"))
	}
	size := barcode.DefaultSize
	if s := q.Get("size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < barcode.MinSize || size > barcode.MaxSize {
			return "", 0, "", badRequest("invalid_request", fmt.Errorf("size must be a number of pixels from %d to %d", barcode.MinSize, barcode.MaxSize))
		}
		size = snapSize(size)
	}
	content, err := codeOf(serial, rec, a.Keys)
	if err != nil {
		return "", 0, "", err
	}
	if sym == barcode.Code128 {
		if a.Short == nil {
			return "", 0, "", badRequest("invalid_request", errors.New("code128 carries short codes, which are not enabled"))
		}
		s, _ := credential.ParseSerial(serial)
		content = a.Short.Derive(s[:])
	}
	return sym, size, content, nil
}

func (a *API) barcodePNG(w http.ResponseWriter, r *http.Request, k access.Key) error {
	if err := a.admitRender(k, renderCostBarcode); err != nil {
		return err
	}
	serial, sym, size, content, err := a.symbol(r, k)
	if err != nil {
		return err
	}
	png, etag, err := a.Barcodes.PNG(serial, content, sym, size)
	if err != nil {
		return barcodeError(err)
	}
	// A credential's barcode never changes: cache it for good, but only in
	// the client (it is a bearer credential, not for shared caches).
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
	return nil
}

func (a *API) barcodeSVG(w http.ResponseWriter, r *http.Request, k access.Key) error {
	if err := a.admitRender(k, renderCostBarcode); err != nil {
		return err
	}
	_, sym, size, content, err := a.symbol(r, k)
	if err != nil {
		return err
	}
	svg, err := barcode.RenderSVG(content, sym, size)
	if err != nil {
		return barcodeError(err)
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Write(svg)
	return nil
}

func (a *API) cardPNG(w http.ResponseWriter, r *http.Request, k access.Key) error {
	if err := a.admitRender(k, renderCostCard); err != nil {
		return err
	}
	serial, rec, err := a.credentialFor(r, k)
	if err != nil {
		return err
	}
	if rec.Kind != credential.KindCard {
		return badRequest("invalid_request", errors.New("card.png is for stamp cards; use barcode.png"))
	}
	st, err := a.Verifier.Status(rec.Merchant, serial)
	if err != nil {
		return err
	}
	m, err := a.Access.Merchant(rec.Merchant)
	if err != nil {
		return err
	}
	code, err := codeOf(serial, rec, a.Keys)
	if err != nil {
		return err
	}
	face := barcode.CardFace{Merchant: m.Name, Program: rec.Program, Code: code, StampsRequired: st.StampsRequired}
	if st.Stamps != nil {
		face.Stamps = *st.Stamps
	}
	if a.Short != nil {
		s, _ := credential.ParseSerial(serial)
		face.ShortCode = a.Short.Derive(s[:])
	}
	png, err := barcode.CardPNG(face)
	if err != nil {
		return barcodeError(err)
	}
	// The stamp boxes change with every stamp: no caching.
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
	return nil
}

func (a *API) couponSheet(w http.ResponseWriter, r *http.Request, k access.Key) error {
	if err := a.admitRender(k, renderCostSheet); err != nil {
		return err
	}
	var req struct {
		Merchant string   `json:"merchant"`
		Title    string   `json:"title"`
		Serials  []string `json:"serials"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Issuer, access.Admin); err != nil {
		return err
	}
	if len(req.Serials) == 0 || len(req.Serials) > maxSheetHTTP {
		return badRequest("invalid_request", fmt.Errorf("serials must list 1 to %d coupons", maxSheetHTTP))
	}
	items := make([]barcode.SheetItem, 0, len(req.Serials))
	for _, serial := range req.Serials {
		rec, err := a.Verifier.Record(req.Merchant, serial)
		if err != nil {
			return err
		}
		if rec.Kind != credential.KindCoupon {
			return badRequest("invalid_request", fmt.Errorf("%s is not a coupon", serial))
		}
		code, err := codeOf(serial, rec, a.Keys)
		if err != nil {
			return err
		}
		item := barcode.SheetItem{Code: code, Offer: rec.Offer}
		if a.Short != nil {
			s, _ := credential.ParseSerial(serial)
			item.ShortCode = a.Short.Derive(s[:])
		}
		items = append(items, item)
	}
	if req.Title == "" {
		req.Title = req.Merchant
	}
	pdf, err := barcode.CouponSheetPDF(req.Title, items)
	if err != nil {
		return barcodeError(err)
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(pdf)
	return nil
}

// barcodeError maps a drawing failure to a 400. An encoder's own text may
// quote the content, which is a credential: that one gets a constant
// message and is not logged.
func barcodeError(err error) error {
	if errors.Is(err, barcode.ErrBadContent) {
		return fail(http.StatusBadRequest, "invalid_request", "this credential cannot be drawn in that symbology")
	}
	for _, e := range []error{barcode.ErrBadSize, barcode.ErrBadSymbology, barcode.ErrBadCard, barcode.ErrBadSheet} {
		if errors.Is(err, e) {
			return badRequest("invalid_request", err)
		}
	}
	return err
}

// codeOf opens the code that the record of serial keeps sealed.
func codeOf(serial string, rec credential.Record, sealer *keys.Ring) (string, error) {
	s, err := credential.ParseSerial(serial)
	if err != nil {
		return "", err
	}
	var cs credential.CodeSealer
	if sealer != nil {
		cs = sealer
	}
	return rec.CodeOf(s[:], cs)
}

// renderSizes are the sizes images are rendered at: a requested size is
// rounded up to the next, so that changing ?size= cannot make every
// request miss the barcode cache.
var renderSizes = []int{64, 96, 128, 192, 256, 300, 384, 512, 768, 1024, 1536, 2048}

func snapSize(px int) int {
	for _, s := range renderSizes {
		if px <= s {
			return s
		}
	}
	return renderSizes[len(renderSizes)-1]
}

// Render costs against a key's render budget (DefaultRenderLimit): a
// barcode is one, a card face two, a sheet of coupons twenty (it costs
// half a second of CPU).
const (
	renderCostBarcode = 1
	renderCostCard    = 2
	renderCostSheet   = 20
)

// DefaultRenderLimit is how fast one API key may have images rendered.
var DefaultRenderLimit = keyed.Limit{PerSecond: 10, Burst: 200}

// admitRender spends cost of the key's render budget or answers 429.
func (a *API) admitRender(k access.Key, cost int) error {
	if a.renderLimits.Allow(k.ID, cost, a.Now()) {
		return nil
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "this API key is rendering images faster than its limit; slow down", Details: map[string]any{"retry_after_seconds": 1}}
}
