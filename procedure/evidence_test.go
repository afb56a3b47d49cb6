package procedure

import (
	"encoding/base64"
	"strings"
	"testing"

	"parley/casestore"
	"parley/route"
)

func attachmentMail(from string, files map[string][]byte) string {
	var b strings.Builder
	b.WriteString("From: " + from + "\nSubject: Re\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BB\"\n\n--BB\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n")
	for name, data := range files {
		b.WriteString("--BB\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"" + name + "\"\nContent-Transfer-Encoding: base64\n\n")
		b.WriteString(base64.StdEncoding.EncodeToString(data) + "\n")
	}
	b.WriteString("--BB--\n")
	return b.String()
}

func (ev *env) evidence(id string) []casestore.Evidence {
	var out []casestore.Evidence
	ev.store.View(func(tx *casestore.Tx) (err error) { out, err = tx.CaseEvidence(id); return err })
	return out
}

func TestAttachmentsBecomeEvidence(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	photo := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)
	exe := append([]byte("MZ\x90\x00"), make([]byte, 100)...)
	target := route.Party(c.ID, route.Trader)
	ev.deliver("support@acme.example", target, attachmentMail("support@acme.example", map[string][]byte{"photo.png": photo, "invoice.pdf.txt": exe}))
	ev.deliver("support@acme.example", target, attachmentMail("support@acme.example", map[string][]byte{"photo-again.png": photo}))
	rows := ev.evidence(c.ID)
	if len(rows) != 3 {
		t.Fatalf("%d evidence rows, want 3", len(rows))
	}
	byName := map[string]casestore.Evidence{}
	for _, r := range rows {
		byName[r.Name] = r
		if r.Role != "trader" || r.Message == 0 || len(r.SHA256) != 64 {
			t.Errorf("row %+v", r)
		}
		if !ev.store.Blobs.Has(r.SHA256) {
			t.Errorf("%s not in the blob folder", r.Name)
		}
	}
	if byName["photo.png"].SHA256 != byName["photo-again.png"].SHA256 {
		t.Error("the same file sent twice must be one blob")
	}
	if x := byName["invoice.pdf.txt"]; x.Sniffed != "application/x-msdownload" || x.Forwarded {
		t.Errorf("an executable named like a document: %+v", x)
	}
	if !byName["photo.png"].Forwarded || byName["photo.png"].Sniffed != "image/png" {
		t.Errorf("photo: %+v", byName["photo.png"])
	}
	out := ev.take()
	first := out[0]
	if len(first.env.Attachments) != 1 || first.env.Attachments[0].FileName != "photo.png" {
		t.Fatalf("relay forwards %d attachments, want only the photo", len(first.env.Attachments))
	}
	if !strings.Contains(first.env.Text, "invoice.pdf.txt") || !strings.Contains(first.env.Text, "not forwarded") || !strings.Contains(first.env.Text, byName["invoice.pdf.txt"].SHA256) {
		t.Errorf("held attachment not listed with its digest:\n%s", first.env.Text)
	}
}

func TestRelaySizeCaps(t *testing.T) {
	ev := newEnv(t)
	ev.e.cfg.Evidence.MaxAttachmentSize = 1000
	c := openCase(t, ev)
	ev.deliver("support@acme.example", route.Party(c.ID, route.Trader), attachmentMail("support@acme.example", map[string][]byte{
		"small.txt": []byte("hello"), "big.bin": make([]byte, 5000)}))
	out := ev.take()
	if len(out[0].env.Attachments) != 1 || out[0].env.Attachments[0].FileName != "small.txt" {
		t.Fatalf("forwarded %d", len(out[0].env.Attachments))
	}
}

const dsnReport = `From: MAILER-DAEMON@mx.acme.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

This is the mail system. Your message could not be delivered.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; support@acme.example
Original-Recipient: rfc822; support@acme.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <support@acme.example>: Recipient address rejected

--R
Content-Type: message/rfc822

Subject: [case] hello

hello
--R--
`

func TestDSNMarksOutboundFailed(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	out := ev.take()
	notice := out[1].o
	ev.deliver("", route.Bounce(notice.ID), dsnReport)
	var o *casestore.Outbound
	ev.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(notice.ID); return err })
	if o.State != casestore.OutFailed || !strings.Contains(o.LastError, "5.1.1") {
		t.Fatalf("outbound %+v", o)
	}
	var bounce *casestore.Event
	for _, e := range ev.events(notice.CaseID) {
		if e.Kind == casestore.EvBounce {
			bounce = &e
		}
	}
	if bounce == nil || bounce.Role != "trader" || !strings.Contains(bounce.Text, "Recipient address rejected") {
		t.Fatalf("bounce event %+v", bounce)
	}
	// A "delayed" report is recorded but does not fail the message.
	ev.deliver("jan@consumer.example", route.Intake("acme"), strings.Replace(complaint, "<c1@", "<c2@", 1))
	out = ev.take()
	ev.deliver("", route.Bounce(out[1].o.ID), strings.Replace(strings.Replace(dsnReport, "Action: failed", "Action: delayed", 1), "Status: 5.1.1", "Status: 4.4.1", 1))
	ev.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(out[1].o.ID); return err })
	if o.State == casestore.OutFailed {
		t.Fatal("a delay report failed the message")
	}
}
