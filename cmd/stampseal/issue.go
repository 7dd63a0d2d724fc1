package main

import (
	"fmt"
	"io"
	"os"

	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/issuer"
)

func issueCoupons(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("issue coupons", "Mint coupons and print one code per line (or write them to --out).", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "merchant (required)")
	offer := fs.String("offer", "", "offer text, e.g. \"2 croissants for 1\" (required)")
	validFor := fs.Duration("valid-for", 0, "how long the coupons stay valid (0: no expiry, as over HTTP)")
	maxUses := fs.Int("max-uses", 1, "uses per coupon")
	count := fs.Int("count", 1, "how many coupons")
	out := fs.String("out", "", "write codes to this file (0600) instead of stdout")
	pdf := fs.String("pdf", "", "also write a printable A4 sheet of the coupons (12 a page) to this PDF file")
	if err := parse(fs, args, "merchant", "offer"); err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("--count %d: must be at least 1", *count)
	}
	if *pdf != "" && *count > barcode.MaxSheetCoupons {
		return fmt.Errorf("--count %d: a PDF sheet holds at most %d coupons", *count, barcode.MaxSheetCoupons)
	}
	l, err := df.open(stderr)
	if err != nil {
		return err
	}
	defer l.close()
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	var sheet []barcode.SheetItem
	for done := 0; done < *count; {
		n := min(*count-done, issuer.MaxBatch)
		batch, err := l.Issuer.Coupons(issuer.CouponRequest{Merchant: *merchant, Offer: *offer, ValidFor: *validFor, MaxUses: *maxUses, Count: n})
		if err != nil {
			return err
		}
		for _, c := range batch {
			fmt.Fprintf(w, "%s\t%s\t%s\n", c.Serial, c.ShortCode, c.Code)
			if *pdf != "" {
				sheet = append(sheet, barcode.SheetItem{Code: c.Code, ShortCode: c.ShortCode, Offer: *offer})
			}
		}
		done += n
		if *out != "" {
			fmt.Fprintf(stderr, "issued %d/%d\n", done, *count)
		}
	}
	if *pdf != "" {
		m, err := l.Access.Merchant(*merchant)
		if err != nil {
			return err
		}
		doc, err := barcode.CouponSheetPDF(m.Name, sheet)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*pdf, doc, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s (%d coupons)\n", *pdf, len(sheet))
	}
	return nil
}
