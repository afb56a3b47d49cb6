// Package imapd owns the mediators' shared IMAP mailbox (IMAP4rev1, RFC 3501;
// the server framework is go-imap/v2's imapserver, written for RFC 9051):
//
//   - the folders: INBOX (party mail of cases in mediation), one folder per
//     case under Cases/ (Closed/ once the case is closed) holding the whole
//     thread in order, a Quarantine subfolder for mail from strangers, and
//     the mediator's own Sent, Drafts and Trash;
//   - the mailbox index kept in the bbolt file (casestore/mailbox.go): fixed
//     UIDVALIDITY per folder, stable increasing UIDs assigned the first time
//     the index sees an item, and the flags and keywords all mediators share;
//     its cost follows the listed cases and the changes, not the number of
//     cases: LIST shows every case not closed and the most recently closed
//     ones (listed.go), and a start reads those and what the store's change
//     log says changed since (load.go);
//   - the bytes served: each stored message as received or sent, with its
//     Reply-To replaced by the case's mediator address, and internal notes as
//     small text/plain messages synthesised from the event log;
//   - logins: mediator credentials (argon2id), plain LOGIN only over TLS or
//     on loopback, failed logins rate-limited per address and per account
//     (the Authenticator is shared with SMTP submission);
//   - TLS: implicit TLS and STARTTLS with the certificate the certs package
//     provides (files, ACME or self-signed).
//
// Evidence is never destroyed through IMAP: in case folders \Deleted, DELETE,
// RENAME, CREATE, COPY, MOVE and APPEND answer NO with the reason, and
// EXPUNGE finds nothing to remove. Each mediator also has personal folders,
// Sent, Drafts and Trash (personal.go), seen only by them, where APPEND,
// \Deleted, EXPUNGE, COPY and MOVE work within a quota; their messages are the
// mediator's copies, not evidence. A poller notices new mail in the store;
// each session's view of its folder (view.go) then tells its client FLAGS,
// EXPUNGE, EXISTS with RECENT, and FETCH FLAGS, in that order (IDLE, NOOP and
// every command's end). \Recent (recent.go), subscriptions (subscribe.go) and
// the response codes for folders that do not exist (missing.go) follow RFC
// 3501 as IMAP4rev1 clients expect.
package imapd
