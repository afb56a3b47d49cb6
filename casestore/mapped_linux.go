package casestore

import (
	"fmt"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMapped drops this process's mapping of the store file's pages with
// madvise(MADV_DONTNEED), which for a shared file mapping removes only the
// page table entries: the pages stay in the kernel's page cache, and the
// next read maps each again from there (a minor fault, no disk read).
//
// Why: bbolt reads through one read-only shared mapping of the whole file,
// and every page a read touches stays mapped, and counted in the process's
// RSS, for good; the kernel maps up to 16 cached neighbours of each page it
// faults in besides. The IMAP index's load reads every open case: at a
// million cases it left 590 MB of the file mapped beside 100 MB of the
// daemon's own memory, for an RSS of 690 MB that ps, top and the process
// metrics then show. Released, RSS is the daemon's memory and the pages it
// used since, and the kernel reclaims those cached pages as it does any
// other file's, without unmapping them first.
//
// It runs in a read-only transaction: bbolt remaps the file (when it grows)
// only while no transaction is open, so the range is the current mapping,
// and the file's size as the transaction sees it lies inside it.
func (s *Store) ReleaseMapped() error {
	return s.db.View(func(tx *bolt.Tx) error {
		base, size := s.db.Info().Data, uintptr(tx.Size())
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, base, size, syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release the mapped pages of %s: %w", s.db.Path(), errno)
		}
		return nil
	})
}
