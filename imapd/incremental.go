package imapd

import (
	"parley/casestore"
)

// syncCaseMessages is syncCase for a case whose folder, state and layout
// are as indexed: only the messages its commits wrote can have moved, and
// outbound rows and notes only grow. Its cost follows the new mail, not the
// size of the case (a busy case has thousands of messages, and commits
// arrive many times a second).
func (x *index) syncCaseMessages(tx *casestore.Tx, c *casestore.Case, mc casestore.MailCase, msgs []uint64, r *caseSync) (*caseSync, []candidate, error) {
	id := c.ID
	mc.Stamp = tx.CaseStamp(id)
	caseKey, quarKey := caseFolderKey(id), quarantineFolderKey(id)
	adds := map[string][]candidate{}
	var inbox []candidate
	for _, mid := range msgs {
		m, err := tx.Message(mid)
		if err != nil {
			return nil, nil, err
		}
		if m.CaseID != id {
			continue
		}
		item := itemRef(id, kindMessage, m.ID)
		shown := m.Processed && m.SHA256 != ""
		quarantined := m.HasFlag(casestore.FlagQuarantined)
		cd := candidate{item: item, t: m.Received, rank: 0, id: m.ID}
		for _, place := range []struct {
			key  string
			want bool
		}{
			{caseKey, shown && !quarantined},
			{quarKey, shown && quarantined},
			{keyInbox, shown && needsAttention(c, m)},
		} {
			has := tx.MailHas(place.key, item)
			switch {
			case place.want && !has && place.key == keyInbox:
				inbox = append(inbox, cd)
			case place.want && !has:
				adds[place.key] = append(adds[place.key], cd)
			case !place.want && has:
				uid, err := tx.MailRemove(place.key, item)
				if err != nil {
					return nil, nil, err
				}
				r.removes[place.key] = append(r.removes[place.key], casestore.MailEntry{UID: uid, Item: item})
			}
		}
	}
	fresh, err := newRows(tx, id, &mc)
	if err != nil {
		return nil, nil, err
	}
	adds[caseKey] = append(adds[caseKey], fresh...)
	for _, key := range []string{caseKey, quarKey} {
		if len(adds[key]) == 0 {
			continue
		}
		if _, err := tx.EnsureMailFolder(key); err != nil {
			return nil, nil, err
		}
		if err := r.append(tx, key, adds[key]); err != nil {
			return nil, nil, err
		}
	}
	if len(adds[quarKey]) > 0 {
		mc.Quarantine = true
	} else if len(r.removes[quarKey]) > 0 {
		left, err := tx.MailItems(quarKey, id+"/")
		if err != nil {
			return nil, nil, err
		}
		mc.Quarantine = len(left) > 0
	}
	if err := tx.PutMailCase(mc); err != nil {
		return nil, nil, err
	}
	r.mc = mc
	return r, inbox, nil
}
