package main

import (
	"io"
	"log/slog"

	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/issuer"
)

// serviceOptions are the knobs serve exposes as flags.
type serviceOptions struct {
	cacheBytes  int
	maxInFlight int
	issueLimit  issuer.Limit
	rewardLimit issuer.Limit // zero: issuer.DefaultRewardLimit
	// metricsElsewhere: serve --metrics-addr serves GET /metrics.
	metricsElsewhere bool
	etcd             etcdFlags // set: the ledger is in etcd (etcd.go)
}

// openService opens the data directory and wires the service over it.
func openService(df *dataFlags, stderr io.Writer, log *slog.Logger, o serviceOptions) (*service.Service, error) {
	store, master, err := o.etcd.openStore(df, stderr)
	if err != nil {
		return nil, err
	}
	svc, err := service.Open(service.Options{Store: store, Master: master, Log: log, BarcodeCacheBytes: o.cacheBytes,
		MaxInFlight: o.maxInFlight, IssueLimit: o.issueLimit, RewardLimit: o.rewardLimit, MetricsElsewhere: o.metricsElsewhere})
	if err != nil {
		store.Close()
		return nil, err
	}
	warnSealed(stderr, svc.SealedCodes)
	return svc, nil
}
