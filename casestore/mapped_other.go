//go:build !linux

package casestore

// ReleaseMapped does nothing here: MADV_DONTNEED keeps the contents of a
// shared file mapping only by Linux's definition of it.
func (s *Store) ReleaseMapped() error { return nil }
