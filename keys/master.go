package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// MasterKeyEnv names the environment variable that may hold the master key.
const MasterKeyEnv = "STAMPSEAL_MASTER_KEY"

// ParseMasterKey turns the text form of a master key (base64 of 32 random
// bytes) into the AEAD that encrypts keysets at rest (AES-256-GCM).
func ParseMasterKey(text string) (tink.AEAD, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != 32 {
		return nil, errors.New("master key must be base64 of 32 bytes")
	}
	if weakKey(raw) {
		return nil, errors.New("master key is 32 equal bytes (all zero?): generate a random one with `openssl rand -base64 32`")
	}
	return subtle.NewAESGCM(raw)
}

// NewMasterKeyText returns a fresh master key in its text form.
func NewMasterKeyText() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// LoadMasterKeyFile reads a master key file.
func LoadMasterKeyFile(path string) (tink.AEAD, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	aead, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return aead, nil
}

// EnsureMasterKeyFile loads the master key at path, generating it (mode
// 0600) when the file does not exist. created reports a new key.
func EnsureMasterKeyFile(path string) (aead tink.AEAD, created bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		text, err := NewMasterKeyText()
		if err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create master key: %w", err)
		}
		_, werr := f.WriteString(text + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, false, fmt.Errorf("write master key: %w", err)
		}
		created = true
	}
	aead, err = LoadMasterKeyFile(path)
	return aead, created, err
}

// weakKey reports a key of one byte repeated, all zero included: a
// placeholder, never a random key.
func weakKey(raw []byte) bool {
	for _, b := range raw {
		if b != raw[0] {
			return false
		}
	}
	return true
}

// LooseMasterKeyFile reports whether the master key file at path can be
// read by other users than its owner (group or world permission bits).
func LooseMasterKeyFile(path string) (os.FileMode, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	return info.Mode().Perm(), info.Mode().Perm()&0o077 != 0
}
