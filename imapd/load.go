package imapd

import (
	"errors"
	"fmt"
	"slices"

	"parley/casestore"
)

// loadPage bounds how many changed cases one step of the start reads.
const loadPage = 10000

// loadLocked starts the index: it reads the cases LIST shows (every case
// not closed and the most recently closed ones) from the index file, then
// indexes every case the store's change log says changed since the index
// last recorded what it saw: cases opened, closed or purged while the daemon
// was down, and the mail that came in meanwhile. Its cost follows the listed
// cases and those changes, not the number of cases in the store. Each step
// records how far it got, so a start cut short goes on from there.
func (x *index) loadLocked() error {
	var (
		listed       []casestore.MailCase
		keywords     []string
		seen, target uint64
	)
	hasInbox := false
	err := x.store.View(func(tx *casestore.Tx) (err error) {
		listed, err = tx.MailListed(x.closedFolders)
		keywords = tx.MailKeywords()
		seen, target = tx.MailSeen(), tx.LastChange()
		_, ferr := tx.MailFolder(keyInbox)
		hasInbox = ferr == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("read mailbox index: %w", err)
	}
	if !hasInbox {
		if err := x.store.Update(func(tx *casestore.Tx) error {
			_, err := tx.EnsureMailFolder(keyInbox)
			return err
		}); err != nil {
			return fmt.Errorf("create INBOX: %w", err)
		}
	}
	x.mu.Lock()
	x.cases = make(map[string]casestore.MailCase, len(listed))
	for _, mc := range listed {
		x.cases[mc.ID] = mc
	}
	x.keywords = keywords
	x.rebuildLocked()
	x.mu.Unlock()
	x.seen = seen
	// Commits after target reach the watch too; the log is read up to it
	// at least, however much mail keeps coming meanwhile.
	for seen < target {
		var (
			ids  []string
			last uint64
		)
		if err := x.store.View(func(tx *casestore.Tx) error {
			ids, last = tx.CasesChangedAfter(seen, loadPage)
			return nil
		}); err != nil {
			return fmt.Errorf("read changed cases: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		ids, err := x.withoutUnindexedPurged(ids)
		if err != nil {
			return err
		}
		changes := make([]casestore.Change, len(ids))
		for i, id := range ids {
			changes[i] = casestore.Change{Case: id}
		}
		if len(changes) == 0 {
			err = x.syncCases(nil, true, last) // records how far it got
		} else {
			err = x.syncAll(changes, true, last)
		}
		if err != nil {
			return err
		}
		seen = last
	}
	x.isLoaded = true
	return nil
}

// withoutUnindexedPurged returns ids, in their order, without the cases the
// index never saw that are purged or gone: syncCase would skip them
// (unseenSkip), but only inside a write transaction, and a commit is
// synced even when it writes nothing. A store the index first sees holds
// mostly such cases: a million took 4,000 commits. Read here in key order,
// in one read-only transaction, they cost none. Neither fact can change
// meanwhile: the index alone writes its rows (under syncMu), and a purge is
// for good.
func (x *index) withoutUnindexedPurged(ids []string) ([]string, error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	skip := map[string]bool{}
	err := x.store.View(func(tx *casestore.Tx) error {
		for _, id := range sorted {
			if _, err := tx.MailCase(id); !errors.Is(err, casestore.ErrNotFound) {
				if err != nil {
					return err
				}
				continue
			}
			if ok, err := unseenSkip(tx, id); err != nil {
				return err
			} else if ok {
				skip[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read changed cases: %w", err)
	}
	keep := make([]string, 0, len(ids))
	for _, id := range ids {
		if !skip[id] {
			keep = append(keep, id)
		}
	}
	return keep, nil
}
