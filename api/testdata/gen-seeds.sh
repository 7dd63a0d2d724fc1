#!/bin/sh
# Writes the seed corpora of the API fuzz targets (api/fuzz_test.go,
# fuzzSeeds) to api/testdata/fuzz/<Target>/. Run from anywhere in the repo.
set -eu
cd "$(dirname "$0")/.."
rm -rf testdata/fuzz/FuzzAdminRequests/seed-* testdata/fuzz/FuzzIssueRequests/seed-* \
	testdata/fuzz/FuzzRegisterRequests/seed-* testdata/fuzz/FuzzReviewRequests/seed-* \
	testdata/fuzz/FuzzDayRequests/seed-*
STAMPSEAL_WRITE_FUZZ_SEEDS=1 go test -count=1 -run '^TestWriteFuzzSeeds$' .
ls testdata/fuzz/*/ | head -50
