package service

import "context"

// follow makes this node's caches (keysets, API keys, issuance records,
// the blocklist, shops) and the
// owner's figures follow the changes that other nodes make to a shared
// store (etcd) until the returned function is called. Over the embedded bbolt file it does
// nothing: this node makes every change itself. It runs before the
// service answers its first request.
func (s *Service) follow() (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	for _, f := range []interface{ Follow(context.Context) error }{s.Ring, s.Access, s.Verifier, s.Monitor, s.Report} {
		if err := f.Follow(ctx); err != nil {
			cancel()
			return nil, err
		}
	}
	return cancel, nil
}
