package issuer

import (
	"errors"
	"fmt"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// CreateProgram stores a new stamp-card program, as the operator.
func (i *Issuer) CreateProgram(p credential.Program) (credential.Program, error) {
	return i.CreateProgramAs(audit.Operator, p)
}

// CreateProgramAs stores a new stamp-card program created by by; the audit
// entry commits with the program.
func (i *Issuer) CreateProgramAs(by audit.Actor, p credential.Program) (credential.Program, error) {
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.CreatedAt = i.now().UTC()
	err := i.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Programs, credential.ProgramKey(p.Merchant, p.ID)) != nil {
			return ErrProgramExists
		}
		if err := storage.PutJSON(tx, storage.Programs, credential.ProgramKey(p.Merchant, p.ID), p); err != nil {
			return err
		}
		return audit.Record(tx, p.CreatedAt, p.Merchant, audit.ProgramCreated, by, p.ID,
			map[string]string{"stamps_required": fmt.Sprint(p.StampsRequired), "reward": p.Reward})
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
