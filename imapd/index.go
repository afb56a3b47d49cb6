package imapd

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
	"parley/route"
	"parley/threading"
)

// index keeps the mailbox index in the bbolt file in step with the case data,
// and the live mailboxes of connected sessions in step with the index.
//
// Lock order: syncMu or personalMu, then mu, then a mailbox's mu.
type index struct {
	store  *casestore.Store
	keys   *threading.Keys
	domain string
	log    *slog.Logger
	cache  *contentCache

	// watch names the cases each commit changed: after the start, a
	// refresh reads only those.
	watch *casestore.Watch
	// closedFolders is how many closed cases LIST shows, the most recently
	// closed; the index holds those and every case not closed (listed.go).
	closedFolders int

	syncMu   sync.Mutex // one refresh at a time; guards the fields below
	isLoaded bool
	lastRun  time.Time
	seen     uint64 // the change log sequence up to which every change is indexed

	// personalMu serialises writes to personal folders, so their new UIDs
	// reach the live mailboxes in order.
	personalMu sync.Mutex

	mu      sync.Mutex                    // guards the fields below
	ensured map[string]bool               // owners whose personal folders exist
	cases   map[string]casestore.MailCase // the listed cases
	byName  map[string]string             // folder name -> key ("" for parents)
	list    []folderEntry                 // INBOX, then by name
	live    map[string]*mailbox
	// \Recent of the folders no session has open (recent.go): the first
	// UID nobody was told of, and those values not yet in the index file.
	recent, recentDirty map[string]imap.UID
	keywords            []string
}

// syncBatch bounds how many cases one index transaction covers.
const syncBatch = 250

func newIndex(store *casestore.Store, keys *threading.Keys, domain string, cacheBytes, closedFolders int, log *slog.Logger) *index {
	return &index{
		store: store, keys: keys, domain: domain, log: log, cache: newContentCache(cacheBytes), watch: store.Watch(),
		closedFolders: closedFolders,
		cases:         make(map[string]casestore.MailCase),
		byName:        make(map[string]string), live: make(map[string]*mailbox), ensured: make(map[string]bool),
		recent: make(map[string]imap.UID), recentDirty: make(map[string]imap.UID),
	}
}

// refreshIfOlder refreshes when commits changed cases since the last
// refresh, unless that refresh is younger than d. Every command's end calls
// it; the server's follower refreshes on each commit in any case.
func (x *index) refreshIfOlder(d time.Duration) error {
	if x.loaded() && !x.watch.Pending() {
		return nil
	}
	x.syncMu.Lock()
	recent := time.Since(x.lastRun) < d
	x.syncMu.Unlock()
	if recent {
		return nil
	}
	return x.refresh()
}

// loaded reports whether the start's work is done.
func (x *index) loaded() bool {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	return x.isLoaded
}

// refresh brings the index up to date with the store and pushes what changed
// to the live mailboxes. The first refresh reads the listed cases and
// indexes what changed while the daemon was down (load.go); after that it
// reads only the cases the store's commits named, so its cost follows the
// mail, not the number of cases.
func (x *index) refresh() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.lastRun = time.Now()
	if !x.isLoaded {
		// The start reads the change log up to at least every commit
		// before it; later ones stay pending.
		x.watch.Take()
		if err := x.loadLocked(); err != nil {
			return err
		}
		// The load read every listed case: its pages would stay mapped,
		// and counted in the daemon's RSS, until it ends.
		if err := x.store.ReleaseMapped(); err != nil {
			x.log.Warn("release the pages the index's load mapped", "err", err)
		}
		return nil
	}
	changes, through := x.watch.TakeThrough()
	return x.syncAll(changes, false, through)
}

// syncAll indexes the changed cases in batches; full re-reads each case
// whole (at start), else a case whose folders and INBOX membership stay as
// they were is brought up to date from the messages its commits named.
// Once all are indexed, the index file records that every change up to the
// change log sequence through is (0: nothing to record).
func (x *index) syncAll(changes []casestore.Change, full bool, through uint64) error {
	for i := 0; i < len(changes); i += syncBatch {
		end := min(i+syncBatch, len(changes))
		mark := uint64(0)
		if end == len(changes) {
			mark = through
		}
		if err := x.syncCases(changes[i:end], full, mark); err != nil {
			x.watch.Requeue(changes[i:])
			return err
		}
	}
	return nil
}

// caseSync is what indexing one case changed.
type caseSync struct {
	mc      casestore.MailCase
	prev    *casestore.MailCase
	adds    map[string][]casestore.MailEntry
	removes map[string][]casestore.MailEntry
}

// candidate is an item that belongs in a folder.
type candidate struct {
	item string
	t    time.Time
	rank int // at equal times: messages, then notes, then outbound
	id   uint64
}

func sortCandidates(cs []candidate) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.t.Equal(b.t) {
			return a.t.Before(b.t)
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.id != b.id {
			return a.id < b.id
		}
		return a.item < b.item
	})
}

// syncCases indexes the given cases in one transaction, and records that
// every change up to the change log sequence seen is indexed (when above
// what is recorded), then applies the result to live mailboxes. The function given to Update only touches its
// transaction and its own result variables, which it resets, because the
// group committer may run it twice.
func (x *index) syncCases(changes []casestore.Change, full bool, seen uint64) error {
	var (
		results   []*caseSync
		inboxAdds []casestore.MailEntry
	)
	prevSeen := x.seen
	err := x.store.Update(func(tx *casestore.Tx) error {
		results, inboxAdds = nil, nil
		if seen > prevSeen {
			if err := tx.SetMailSeen(seen); err != nil {
				return fmt.Errorf("record indexed changes: %w", err)
			}
		}
		var pending []candidate
		for _, ch := range changes {
			r, inbox, err := x.syncCase(tx, ch, full)
			if err != nil {
				return fmt.Errorf("index case %s: %w", ch.Case, err)
			}
			if r != nil {
				results = append(results, r)
				pending = append(pending, inbox...)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		sortCandidates(pending)
		items := make([]string, len(pending))
		for i, p := range pending {
			items[i] = p.item
		}
		uids, err := tx.MailAppend(keyInbox, items...)
		if err != nil {
			return fmt.Errorf("index INBOX: %w", err)
		}
		for i, item := range items {
			inboxAdds = append(inboxAdds, casestore.MailEntry{UID: uids[i], Item: item})
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.seen = max(x.seen, seen)
	x.apply(results, inboxAdds)
	return nil
}

// needsAttention is the definition of INBOX: mail from the consumer or the
// trader of a case in mediation, except quarantined mail, automatic replies,
// duplicates and bounces.
func needsAttention(c *casestore.Case, m *casestore.Message) bool {
	if c.State != casestore.StateMediation || (m.Role != route.Consumer && m.Role != route.Trader) {
		return false
	}
	for _, f := range []string{casestore.FlagQuarantined, casestore.FlagAutoReply, casestore.FlagDuplicate, casestore.FlagBounce} {
		if m.HasFlag(f) {
			return false
		}
	}
	return true
}

// unseenSkip reports, for a case the index never saw, whether it is purged
// or gone: it has no folder to show or empty (a purged case is neither
// listed nor found by name), and no row is written for it. A store the index
// first sees holds mostly such cases: indexing them cost a million rows
// written. Only the row's purged field is decoded.
func unseenSkip(tx *casestore.Tx, id string) (bool, error) {
	purged, err := tx.CasePurged(id)
	if errors.Is(err, casestore.ErrNotFound) {
		return true, nil
	}
	return purged, err
}

// syncCase brings the folders of one case up to date. It returns the
// case's INBOX items that are new, for the caller to number across cases.
func (x *index) syncCase(tx *casestore.Tx, ch casestore.Change, full bool) (*caseSync, []candidate, error) {
	id := ch.Case
	r := &caseSync{adds: map[string][]casestore.MailEntry{}, removes: map[string][]casestore.MailEntry{}}
	mc, err := tx.MailCase(id)
	switch {
	case err == nil:
		prev := mc
		r.prev = &prev
	case errors.Is(err, casestore.ErrNotFound):
		if skip, err := unseenSkip(tx, id); skip || err != nil {
			return nil, nil, err
		}
		mc = casestore.MailCase{ID: id}
	default:
		return nil, nil, err
	}
	c, err := tx.Case(id)
	if errors.Is(err, casestore.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	mc.Stamp = tx.CaseStamp(id)
	if mc.ReplyTo == "" {
		mc.ReplyTo = x.keys.PartyLocal(id, route.Mediator) + "@" + x.domain
	}
	closedAt := closedTime(c)
	if !full && r.prev != nil && r.prev.Layout == caseLayout && !c.Purged && !mc.Purged && mc.Label == caseLabel(c) &&
		mc.Closed == (c.State == casestore.StateClosed) && mc.Mediation == (c.State == casestore.StateMediation) &&
		mc.ClosedAt.Equal(closedAt) {
		return x.syncCaseMessages(tx, c, mc, ch.Messages, r)
	}
	mc.Label, mc.Closed, mc.Purged = caseLabel(c), c.State == casestore.StateClosed, c.Purged
	mc.Mediation, mc.ClosedAt = c.State == casestore.StateMediation, closedAt
	if mc.Root == "" {
		mc.Root = threadRoot(id, mc.ReplyTo)
	}

	caseKey, quarKey := caseFolderKey(id), quarantineFolderKey(id)
	want := map[string][]candidate{}
	var inbox []candidate
	if !c.Purged {
		msgs, err := tx.CaseMessages(id)
		if err != nil {
			return nil, nil, err
		}
		for i := range msgs {
			m := &msgs[i]
			if !m.Processed || m.SHA256 == "" {
				continue
			}
			cd := candidate{item: itemRef(id, kindMessage, m.ID), t: m.Received, rank: 0, id: m.ID}
			if m.HasFlag(casestore.FlagQuarantined) {
				want[quarKey] = append(want[quarKey], cd)
				continue
			}
			want[caseKey] = append(want[caseKey], cd)
			if needsAttention(c, m) {
				inbox = append(inbox, cd)
			}
		}
		// Outbound rows and notes are append-only until the purge: keep what
		// is indexed and read only what came after it. A busy case has
		// thousands of both, and this runs on every poll while mail flows.
		existing, err := tx.MailItems(caseKey, id+"/")
		if err != nil {
			return nil, nil, err
		}
		// A folder laid out before caseLayout showed every relayed copy:
		// once, the rows it keeps are decided again (thread.go).
		var keep map[uint64]bool
		if mc.Layout < caseLayout && len(existing) > 0 {
			all, err := tx.CaseOutbound(id)
			if err != nil {
				return nil, nil, err
			}
			keep = map[uint64]bool{}
			var prev *casestore.Outbound
			for i := range all {
				keep[all[i].ID] = shownInCase(&all[i], prev)
				prev = &all[i]
			}
		}
		for _, e := range existing {
			_, kind, n, err := parseItem(e.Item)
			if err != nil || (kind != kindOutbound && kind != kindNote) {
				continue
			}
			if kind == kindOutbound && keep != nil && !keep[n] {
				continue
			}
			want[caseKey] = append(want[caseKey], candidate{item: e.Item})
		}
		fresh, err := newRows(tx, id, &mc)
		if err != nil {
			return nil, nil, err
		}
		want[caseKey] = append(want[caseKey], fresh...)
	}
	for _, key := range []string{caseKey, quarKey} {
		existing, err := tx.MailItems(key, id+"/")
		if err != nil {
			return nil, nil, err
		}
		adds, removes := diffItems(existing, want[key])
		for _, e := range removes {
			if _, err := tx.MailRemove(key, e.Item); err != nil {
				return nil, nil, err
			}
		}
		if len(removes) > 0 {
			r.removes[key] = removes
		}
		if key == caseKey || len(adds) > 0 {
			if _, err := tx.EnsureMailFolder(key); err != nil {
				return nil, nil, err
			}
		}
		if err := r.append(tx, key, adds); err != nil {
			return nil, nil, err
		}
		if key == quarKey {
			mc.Quarantine = len(existing)-len(removes)+len(adds) > 0
		}
	}
	existing, err := tx.MailItems(keyInbox, id+"/")
	if err != nil {
		return nil, nil, err
	}
	inboxAdds, inboxRemoves := diffItems(existing, inbox)
	for _, e := range inboxRemoves {
		if _, err := tx.MailRemove(keyInbox, e.Item); err != nil {
			return nil, nil, err
		}
	}
	if len(inboxRemoves) > 0 {
		r.removes[keyInbox] = inboxRemoves
	}
	if c.Purged {
		if err := tx.DeleteMailFlags(id + "/"); err != nil {
			return nil, nil, err
		}
	}
	mc.Layout = caseLayout
	if err := tx.PutMailCase(mc); err != nil {
		return nil, nil, err
	}
	r.mc = mc
	return r, inboxAdds, nil
}

// append numbers the candidates of a folder in time order and records them
// as added.
func (r *caseSync) append(tx *casestore.Tx, key string, adds []candidate) error {
	if len(adds) == 0 {
		return nil
	}
	sortCandidates(adds)
	items := make([]string, len(adds))
	for i, a := range adds {
		items[i] = a.item
	}
	uids, err := tx.MailAppend(key, items...)
	if err != nil {
		return err
	}
	for i, item := range items {
		r.adds[key] = append(r.adds[key], casestore.MailEntry{UID: uids[i], Item: item})
	}
	return nil
}

// newRows returns the outbound rows and notes of a case indexed since
// mc.OutSeen and mc.EventsSeen that belong in its folder, and moves both on:
// they only grow, so no sync reads them twice.
func newRows(tx *casestore.Tx, id string, mc *casestore.MailCase) ([]candidate, error) {
	var out []candidate
	outs, err := tx.CaseOutboundAfter(id, mc.OutSeen)
	if err != nil {
		return nil, err
	}
	var prev *casestore.Outbound
	if mc.OutSeen > 0 {
		if p, err := tx.Outbound(mc.OutSeen); err == nil {
			prev = p
		}
	}
	for i := range outs {
		o := &outs[i]
		if shownInCase(o, prev) {
			out = append(out, candidate{item: itemRef(id, kindOutbound, o.ID), t: o.Created, rank: 2, id: o.ID})
		}
		prev = o
		mc.OutSeen = max(mc.OutSeen, o.ID)
	}
	evs, err := tx.EventsAfter(id, mc.EventsSeen)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if ev.Kind == casestore.EvNote && ev.Text != "" {
			out = append(out, candidate{item: itemRef(id, kindNote, ev.Seq), t: ev.Time, rank: 1, id: ev.Seq})
		}
		mc.EventsSeen = max(mc.EventsSeen, ev.Seq)
	}
	return out, nil
}

// diffItems compares a folder's entries with the items that belong there.
func diffItems(existing []casestore.MailEntry, want []candidate) (adds []candidate, removes []casestore.MailEntry) {
	have := make(map[string]bool, len(existing))
	for _, e := range existing {
		have[e.Item] = true
	}
	keep := make(map[string]bool, len(want))
	for _, w := range want {
		if keep[w.item] {
			continue
		}
		keep[w.item] = true
		if !have[w.item] {
			adds = append(adds, w)
		}
	}
	for _, e := range existing {
		if !keep[e.Item] {
			removes = append(removes, e)
		}
	}
	sort.Slice(removes, func(i, j int) bool { return removes[i].UID < removes[j].UID })
	return adds, removes
}

// apply pushes committed index changes to memory and to live mailboxes.
func (x *index) apply(results []*caseSync, inboxAdds []casestore.MailEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	rebuild := false
	for _, r := range results {
		_, listed := x.cases[r.mc.ID]
		if !listed || r.prev == nil || folderName(*r.prev) != folderName(r.mc) || r.prev.Quarantine != r.mc.Quarantine ||
			r.prev.Purged != r.mc.Purged || !r.prev.ClosedAt.Equal(r.mc.ClosedAt) {
			rebuild = true
		}
		x.cases[r.mc.ID] = r.mc
		for key, es := range r.removes {
			if m := x.live[key]; m != nil {
				m.remove(es)
			}
		}
		for key, es := range r.adds {
			if m := x.live[key]; m != nil {
				m.add(es)
			}
		}
		if r.mc.Purged {
			x.cache.forget(r.mc.ID + "/")
		}
	}
	if m := x.live[keyInbox]; m != nil && len(inboxAdds) > 0 {
		m.add(inboxAdds)
	}
	if rebuild {
		x.rebuildLocked()
	}
}

// rebuildLocked keeps the listed cases in memory and no others, and
// recomputes the folder list; x.mu is held.
func (x *index) rebuildLocked() {
	x.trimLocked()
	list := []folderEntry{}
	var open, closed int
	for _, mc := range x.cases {
		list = append(list, caseFolders(mc, folderName(mc))...)
		if mc.Closed {
			closed++
		} else {
			open++
		}
	}
	parent := func(name string, n int) folderEntry {
		kids := imap.MailboxAttrHasNoChildren
		if n > 0 {
			kids = imap.MailboxAttrHasChildren
		}
		return folderEntry{name: name, attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect, kids}}
	}
	list = append(list, parent(casesRoot, open), parent(closedRoot, closed))
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	x.list = append([]folderEntry{{name: inboxName, key: keyInbox, attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}}}, list...)
	x.byName = make(map[string]string, len(x.list))
	for _, f := range x.list {
		x.byName[f.name] = f.key
	}
}

// folders returns the current folder list.
func (x *index) folders() []folderEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.list
}

// lookup returns the key of a folder name; key "" with ok means a parent
// folder, which holds no messages. Besides the listed folders it finds
// those LIST leaves out (listed.go).
func (x *index) lookup(name string) (key string, ok bool) {
	x.mu.Lock()
	key, ok = x.byName[name]
	x.mu.Unlock()
	if ok {
		return key, true
	}
	f, ok := x.unlisted(name)
	return f.key, ok
}

// open returns the live mailbox of a folder, loading it from the index.
// Every open is paired with a release.
func (x *index) open(key string) (*mailbox, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if m := x.live[key]; m != nil {
		m.refs++
		return m, nil
	}
	var (
		f       casestore.MailFolder
		entries []casestore.MailEntry
	)
	err := x.store.View(func(tx *casestore.Tx) (err error) {
		if f, err = tx.MailFolder(key); err != nil {
			return err
		}
		entries, err = tx.MailEntries(key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open folder %s: %w", key, err)
	}
	m := newMailbox(f, entries, x.mailboxFlagsLocked(isPersonalKey(key)), x.recentFromLocked(f))
	m.refs = 1
	x.live[key] = m
	return m, nil
}

// release pairs with open. The last session to leave a folder hands its
// \Recent state to the index (recent.go).
func (x *index) release(m *mailbox) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m.refs--
	if m.refs == 0 && x.live[m.key] == m {
		m.mu.Lock()
		x.recent[m.key] = m.recentNext
		if m.recentNext > m.recentSaved {
			x.recentDirty[m.key] = m.recentNext
		}
		m.mu.Unlock()
		delete(x.live, m.key)
	}
}

// content returns the bytes served for an item.
func (x *index) content(item string) (*content, error) {
	if c := x.cache.get(item); c != nil {
		return c, nil
	}
	if id, ok := parsePersonalItem(item); ok {
		c, err := loadPersonal(x.store, id)
		if err != nil {
			return nil, err
		}
		x.cache.put(item, c)
		return c, nil
	}
	caseID, _, _, err := parseItem(item)
	if err != nil {
		return nil, err
	}
	mc, ok := x.mailCase(caseID)
	if !ok || mc.ReplyTo == "" {
		return nil, fmt.Errorf("load %s: case %s is not indexed", item, caseID)
	}
	c, err := loadContent(x.store, item, mc)
	if err != nil {
		return nil, err
	}
	x.cache.put(item, c)
	return c, nil
}

// mailboxFlagsLocked is FLAGS: the system flags Parley keeps and every
// keyword used; x.mu is held.
func (x *index) mailboxFlagsLocked(personal bool) []imap.Flag {
	flags := systemFlagsOf(personal)
	for _, k := range x.keywords {
		flags = append(flags, imap.Flag(k))
	}
	return flags
}

// flags reads the flags of items.
func (x *index) flags(items []string) (map[string][]imap.Flag, error) {
	out := make(map[string][]imap.Flag, len(items))
	err := x.store.View(func(tx *casestore.Tx) error {
		for _, item := range items {
			out[item] = toFlags(tx.MailFlags(item))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read flags: %w", err)
	}
	return out, nil
}

// storeFlags changes the flags of items (flags already canonical), tells
// every live mailbox showing them, and announces new keywords. It returns the
// resulting flags of every item and which items changed.
func (x *index) storeFlags(items []string, op imap.StoreFlagsOp, flags []imap.Flag, source *view) (final map[string][]imap.Flag, changed map[string]bool, err error) {
	if len(items) == 0 {
		return map[string][]imap.Flag{}, map[string]bool{}, nil
	}
	var newKeywords []string
	err = x.store.Update(func(tx *casestore.Tx) error {
		final, changed, newKeywords = make(map[string][]imap.Flag, len(items)), map[string]bool{}, nil
		canon := make([]string, len(flags))
		for i, f := range flags {
			canon[i] = string(f)
			if isKeyword(f) {
				stored, isNew, err := tx.AddMailKeyword(string(f))
				if err != nil {
					return err
				}
				canon[i] = stored
				if isNew {
					newKeywords = append(newKeywords, stored)
				}
			}
		}
		for _, item := range items {
			cur := tx.MailFlags(item)
			next := applyFlags(cur, op, canon)
			if !equalStrings(cur, next) {
				if err := tx.SetMailFlags(item, next); err != nil {
					return err
				}
				changed[item] = true
			}
			final[item] = toFlags(next)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.announceKeywordsLocked(newKeywords)
	if len(changed) > 0 {
		for _, m := range x.live {
			m.flagsChanged(changed, source)
		}
	}
	return final, changed, nil
}
