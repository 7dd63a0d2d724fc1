#!/bin/sh
# Writes the seed corpus for FuzzParse into testdata/fuzz/FuzzParse.
# Run from the shortcode directory: sh testdata/gen-fuzz-corpus.sh
set -eu
dir=testdata/fuzz/FuzzParse
mkdir -p "$dir"
n=0
seed() {
	n=$((n + 1))
	printf 'go test fuzz v1\nstring(%s)\n' "$1" >"$dir/seed-$n"
}
seed '"0000-0000-0000"'        # all zero data with its check symbol
seed '"ZZZZ-ZZZZ-ZZZK"'        # all-31 data with its check symbol
seed '"1234-5678-9ABV"'        # counting data with its check symbol
seed '"k7qf 3mz9 w2xd"'        # lower case with spaces
seed '"OIL0-ioLO-0000"'        # Crockford aliases
seed '"  0000000000-00  \n"'   # odd dashes and padding
seed '"U000-0000-0000"'        # letter outside the alphabet
seed '"0000-0000-000"'         # one symbol short
seed '"0000-0000-00000"'       # one symbol long
seed '"\xff\xfe0000-0000-0000"' # invalid UTF-8
seed '""'
