package control

// Backup and fsck through the control socket: the daemon holds the bbolt
// file, so a consistent snapshot and a safe --repair can only be taken
// inside it.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"parley/backup"
)

// FsckRequest is `parley fsck`.
type FsckRequest struct {
	Repair bool          `json:"repair"`
	MinAge time.Duration `json:"min_age"`
}

// errorTrailer carries an error that happens after a streamed reply began.
const errorTrailer = "X-Parley-Error"

// Backup writes a backup of the data folder (a tar, see package backup) to w.
func (o *Ops) Backup(w io.Writer) error {
	_, err := backup.Write(o.Store, w, o.Store.Now)
	return err
}

// Fsck checks the data folder, repairing it if asked.
func (o *Ops) Fsck(req FsckRequest) (*backup.Report, error) {
	return backup.Check(o.Store, backup.CheckOptions{Repair: req.Repair, MinAge: req.MinAge, Now: o.Store.Now})
}

func serveBackup(mux *http.ServeMux, ops Interface) {
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", errorTrailer)
		w.Header().Set("Content-Type", "application/x-tar")
		bw := bufio.NewWriterSize(w, 256<<10)
		err := ops.Backup(bw)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			w.Header().Set(errorTrailer, err.Error())
		}
	})
	mux.HandleFunc("POST /fsck", func(w http.ResponseWriter, r *http.Request) {
		var req FsckRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
		rep, err := ops.Fsck(req)
		reply(w, rep, err)
	})
}

// Backup streams the daemon's backup to w. It has no overall time limit:
// a large data folder takes as long as it takes.
func (c *Client) Backup(w io.Writer) error {
	return c.untimed().doStream("GET", "/backup", nil, func(r io.Reader) error {
		_, err := io.Copy(w, r)
		return err
	})
}

// Fsck runs the check inside the daemon.
func (c *Client) Fsck(req FsckRequest) (rep *backup.Report, err error) {
	err = c.untimed().do("POST", "/fsck", req, &rep)
	return rep, err
}

// untimed is the client without the 30-second limit of quick requests.
func (c *Client) untimed() *Client {
	return &Client{hc: &http.Client{Transport: c.hc.Transport}}
}
