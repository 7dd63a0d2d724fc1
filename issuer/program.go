package issuer

import (
	"errors"
	"fmt"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// CreateProgram stores a new stamp-card program.
func (i *Issuer) CreateProgram(p credential.Program) (credential.Program, error) {
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.CreatedAt = i.now().UTC()
	err := i.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Programs, credential.ProgramKey(p.Merchant, p.ID)) != nil {
			return ErrProgramExists
		}
		return storage.PutJSON(tx, storage.Programs, credential.ProgramKey(p.Merchant, p.ID), p)
	})
	return p, err
}

// Program returns a stored program, or ErrUnknownProgram.
func (i *Issuer) Program(merchant, id string) (credential.Program, error) {
	var p credential.Program
	err := i.store.View(func(tx storage.Tx) error {
		return storage.GetJSON(tx, storage.Programs, credential.ProgramKey(merchant, id), &p)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return p, ErrUnknownProgram
	}
	return p, err
}
