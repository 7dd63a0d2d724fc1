package keys

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// A sealed backup is the database snapshot followed by a trailer:
//
//	sealed MAC key | SHA-256 of the snapshot | HMAC-SHA-256 of the snapshot | uint32 length of the sealed key | magic
//
// The MAC key is fresh for every backup and travels sealed under the master
// key, so only an installation holding the master key can make a trailer
// that verifies, and anyone can still detect plain corruption with the
// checksum. bbolt ignores bytes past its last page, so the file also opens
// as a database as it is.

// backupMagic ends every sealed backup.
const backupMagic = "stampseal-bak-v1"

var backupKeyAD = []byte("stampseal backup mac key v1")

// Errors of CheckBackup.
var (
	ErrBackupUnsealed = errors.New("not a sealed stampseal backup (no integrity trailer)")
	ErrBackupCorrupt  = errors.New("backup checksum does not match: the file is damaged")
	ErrBackupForged   = errors.New("backup MAC does not verify under this master key: the file was altered, or made with another master key")
)

// BackupWriter passes a snapshot through to w while it computes the
// trailer; Close writes the trailer.
type BackupWriter struct {
	w         io.Writer
	sealedKey []byte
	sum, mac  hash.Hash
}

// NewBackupWriter starts a sealed backup onto w.
func (r *Ring) NewBackupWriter(w io.Writer) (*BackupWriter, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	sealed, err := r.master.Encrypt(key, backupKeyAD)
	if err != nil {
		return nil, fmt.Errorf("seal backup key: %w", err)
	}
	return &BackupWriter{w: w, sealedKey: sealed, sum: sha256.New(), mac: hmac.New(sha256.New, key)}, nil
}

// Write writes p to the snapshot.
func (b *BackupWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.sum.Write(p[:n])
	b.mac.Write(p[:n])
	return n, err
}

// Close writes the trailer; it does not close the underlying writer.
func (b *BackupWriter) Close() error {
	t := append([]byte(nil), b.sealedKey...)
	t = b.sum.Sum(t)
	t = b.mac.Sum(t)
	t = binary.BigEndian.AppendUint32(t, uint32(len(b.sealedKey)))
	t = append(t, backupMagic...)
	_, err := b.w.Write(t)
	return err
}

// CheckBackup verifies the sealed backup in f of size bytes and returns
// the length of the snapshot before its trailer. With master nil only the
// checksum is verified (macChecked false): that finds damage, not
// tampering.
func CheckBackup(f io.ReaderAt, size int64, master tink.AEAD) (snapshot int64, macChecked bool, err error) {
	fixed := int64(sha256.Size*2 + 4 + len(backupMagic))
	if size < fixed {
		return 0, false, ErrBackupUnsealed
	}
	tail := make([]byte, 4+len(backupMagic))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, false, fmt.Errorf("read backup: %w", err)
	}
	if string(tail[4:]) != backupMagic {
		return 0, false, ErrBackupUnsealed
	}
	keyLen := int64(binary.BigEndian.Uint32(tail[:4]))
	if keyLen > 1024 || size < fixed+keyLen {
		return 0, false, ErrBackupCorrupt
	}
	snapshot = size - fixed - keyLen
	trailer := make([]byte, keyLen+sha256.Size*2)
	if _, err := f.ReadAt(trailer, snapshot); err != nil {
		return 0, false, fmt.Errorf("read backup: %w", err)
	}
	sealedKey, wantSum, wantMAC := trailer[:keyLen], trailer[keyLen:keyLen+sha256.Size], trailer[keyLen+sha256.Size:]
	sum := sha256.New()
	var mac hash.Hash
	if master != nil {
		key, err := master.Decrypt(sealedKey, backupKeyAD)
		if err != nil {
			return 0, false, ErrBackupForged
		}
		mac = hmac.New(sha256.New, key)
	}
	w := io.Writer(sum)
	if mac != nil {
		w = io.MultiWriter(sum, mac)
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, 0, snapshot)); err != nil {
		return 0, false, fmt.Errorf("read backup: %w", err)
	}
	if !bytes.Equal(sum.Sum(nil), wantSum) {
		return 0, false, ErrBackupCorrupt
	}
	if mac != nil && !hmac.Equal(mac.Sum(nil), wantMAC) {
		return 0, false, ErrBackupForged
	}
	return snapshot, mac != nil, nil
}
