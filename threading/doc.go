// Package threading owns how a message finds its case: the per-case reply
// addresses (mint, parse, verify with HMAC-SHA256 and rotating key ids), the
// VERP bounce addresses of outbound mail, case ids, Message-ID generation,
// In-Reply-To/References (RFC 5322 section 3.6.4), subject tags, and stripping
// quoted history from replies.
//
// Reply-address local parts use only lower-case letters, digits, '.' and '-'
// (RFC 5321 dot-atom, no '+', which some senders mangle) and are compared
// case-insensitively, because some MTAs change the case of local parts.
package threading
