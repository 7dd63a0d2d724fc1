package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
)

// tlsFlags are serve's transport flags: bearer tokens and review-page
// cookies must not cross a network in clear.
type tlsFlags struct {
	cert, key string
	insecure  bool
}

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.cert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
	fs.StringVar(&t.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&t.insecure, "insecure-plaintext", false, "serve plain HTTP on a non-loopback --addr (API keys then cross the network in clear: only behind a TLS-terminating proxy on the same host)")
}

// config checks the flags against addr and loads the certificate, so that
// a bad value fails at start, named. It returns nil for plain HTTP.
func (t *tlsFlags) config(addr string) (*tls.Config, error) {
	if (t.cert == "") != (t.key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: pass both or neither")
	}
	if t.cert == "" {
		if !t.insecure && !loopback(addr) {
			return nil, fmt.Errorf("--addr %s is reachable from the network and there is no --tls-cert/--tls-key: API keys would cross it in clear. Serve HTTPS, listen on 127.0.0.1, or pass --insecure-plaintext behind a TLS-terminating proxy", addr)
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.cert, t.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", t.cert, t.key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// loopback reports whether addr (host:port) listens only on this machine:
// a loopback address, or a name that resolves only to loopback addresses.
// An empty host listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
