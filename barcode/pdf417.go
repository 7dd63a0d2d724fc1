package barcode

import (
	"fmt"
	"strings"
	"sync"

	bc "github.com/boombuler/barcode"
	"github.com/boombuler/barcode/pdf417"
)

// PDF417 comes from boombuler/barcode, with one defect mended.
//
// boombuler v1.1.0 writes the left row indicator of the rows of cluster 0
// (rows 0, 3, 6, ...) as 30*(row/3) + (rows-3)/3, where ISO 15438 has
// 30*(row/3) + (rows-1)/3. The two agree only when the row count is a
// multiple of 3. Otherwise the symbol states two different row counts, and
// a decoder that reads both row indicators, as ZXing does, finds nothing:
// that is why stampseal's PDF417 did not scan. encodePDF417 replaces each
// such indicator with the codeword boombuler draws right in a symbol of
// 3j+3 rows, where both formulas give j = (rows-1)/3.

const (
	// pdf417Security is the error-correction level: ISO 15438 recommends
	// 3 for 41-160 data codewords; one more for worn paper.
	pdf417Security = 4
	// pdf417RowHeight is a symbol row's height in modules. ISO 15438 asks
	// for at least 3; boombuler draws 2.
	pdf417RowHeight = 3
	// pdf417Codeword is the width of a codeword and of the start pattern,
	// in modules.
	pdf417Codeword = 17
	// pdf417MaxRows is the most rows boombuler draws.
	pdf417MaxRows = 30
)

// pdf417Rows is a PDF417 symbol as rows of modules, one row per symbol row.
type pdf417Rows [][]bool

// encodePDF417 encodes content as a PDF417 symbol whose row indicators
// agree with each other.
func encodePDF417(content string) (pdf417Rows, error) {
	code, err := pdf417.Encode(content, pdf417Security)
	if err != nil {
		return nil, err
	}
	rows := symbolRows(code)
	if len(rows)%3 == 0 {
		return rows, nil // boombuler's formula is right for these
	}
	j := (len(rows) - 1) / 3
	want, err := clusterZeroIndicators(j)
	if err != nil {
		return nil, err
	}
	for r := 0; r < len(rows); r += 3 {
		copy(rows[r][pdf417Codeword:2*pdf417Codeword], want[r/3])
	}
	return rows, nil
}

// symbolRows reads boombuler's image (two pixel rows per symbol row) into
// one row of modules per symbol row.
func symbolRows(code bc.Barcode) pdf417Rows {
	b := code.Bounds()
	rows := make(pdf417Rows, b.Dy()/2)
	for r := range rows {
		rows[r] = make([]bool, b.Dx())
		for x := range rows[r] {
			rows[r][x] = isDark(code.At(b.Min.X+x, b.Min.Y+2*r))
		}
	}
	return rows
}

var indicators struct {
	sync.Mutex
	byJ map[int][][]bool // j -> the cluster-0 left indicators 30k+j, k = 0..j
}

// clusterZeroIndicators returns the modules of the left row indicators of
// value 30k + j for k = 0..j (the rows 3k of a symbol of 3j+1 to 3j+3
// rows), taken from a symbol of exactly 3j+3 rows.
func clusterZeroIndicators(j int) ([][]bool, error) {
	indicators.Lock()
	defer indicators.Unlock()
	if got, ok := indicators.byJ[j]; ok {
		return got, nil
	}
	rows, err := symbolOfRows(3*j + 3)
	if err != nil {
		return nil, err
	}
	out := make([][]bool, j+1)
	for k := range out {
		out[k] = append([]bool(nil), rows[3*k][pdf417Codeword:2*pdf417Codeword]...)
	}
	if indicators.byJ == nil {
		indicators.byJ = map[int][][]bool{}
	}
	indicators.byJ[j] = out
	return out, nil
}

// symbolOfRows finds a symbol boombuler draws with exactly n rows: digits
// take numeric compaction, a codeword for every three or so, so some
// length at some error-correction level lands on every count up to 30.
func symbolOfRows(n int) (pdf417Rows, error) {
	for level := byte(0); level <= 8; level++ {
		for digits := 1; digits <= 2600; digits++ {
			code, err := pdf417.Encode(strings.Repeat("7", digits), level)
			if err != nil {
				break // too long for this level
			}
			rows := code.Bounds().Dy() / 2
			if rows == n {
				return symbolRows(code), nil
			}
			if rows > n {
				break
			}
		}
	}
	return nil, fmt.Errorf("pdf417: no symbol of %d rows to take row indicators from", n)
}
