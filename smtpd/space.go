package smtpd

import (
	"github.com/emersion/go-smtp"
)

var errNoRoom = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, please try again later"}

// roomForMail refuses a transaction while the data folder has less than the
// margin free: every 250 must have room for its relay copies, so mail waits
// in the sender's queue (452 4.3.1, RFC 3463: mail system full) rather than
// being accepted and stuck.
func (s *session) roomForMail() error {
	margin := s.srv.cfg.MinFreeSpace
	if margin <= 0 {
		return nil
	}
	free, err := s.srv.freeSpace()
	if err != nil {
		return tempFail(s.log, "free space unknown", err)
	}
	if free < margin {
		s.log.Warn("mail deferred: data folder nearly full", "free", free, "min_free_space", margin)
		return errNoRoom
	}
	return nil
}
