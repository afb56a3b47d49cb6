package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"parley/casestore"
)

// SocketName is the control socket's file name inside the data folder.
const SocketName = "parley.sock"

// SocketPath is the control socket of a data folder.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Serve answers the command line on the data folder's socket until ctx ends.
// The daemon holds the bbolt lock, so a stale socket file is left over from a
// crash and is replaced.
func Serve(ctx context.Context, dataDir string, ops Interface, log *slog.Logger) (func(), error) {
	path := SocketPath(dataDir)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /traders", func(w http.ResponseWriter, r *http.Request) {
		var req TraderAdd
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
		tr, err := ops.AddTrader(req)
		reply(w, tr, err)
	})
	mux.HandleFunc("GET /traders/{handle}", func(w http.ResponseWriter, r *http.Request) {
		tr, err := ops.Trader(r.PathValue("handle"))
		reply(w, tr, err)
	})
	mux.HandleFunc("POST /traders/{handle}/change", func(w http.ResponseWriter, r *http.Request) {
		var req TraderChange
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
		req.Handle = r.PathValue("handle")
		tr, err := ops.ChangeTrader(req)
		reply(w, tr, err)
	})
	mux.HandleFunc("GET /traders", func(w http.ResponseWriter, r *http.Request) {
		trs, err := ops.Traders()
		reply(w, trs, err)
	})
	mux.HandleFunc("GET /cases", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		cs, err := ops.Cases(limit, r.URL.Query().Get("after"))
		reply(w, cs, err)
	})
	mux.HandleFunc("POST /mediators", func(w http.ResponseWriter, r *http.Request) {
		var req MediatorAdd
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
		m, err := ops.AddMediator(req)
		reply(w, m, err)
	})
	mux.HandleFunc("GET /mediators", func(w http.ResponseWriter, r *http.Request) {
		ms, err := ops.Mediators()
		reply(w, ms, err)
	})
	mux.HandleFunc("GET /cases/{id}/export", func(w http.ResponseWriter, r *http.Request) {
		// Build into memory first so an error can still be a proper reply.
		var buf bytes.Buffer
		if err := ops.Export(r.PathValue("id"), &buf); err != nil {
			reply(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /cases/{id}/verify", func(w http.ResponseWriter, r *http.Request) {
		v, err := ops.Verify(r.PathValue("id"))
		reply(w, v, err)
	})
	mux.HandleFunc("GET /cases/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := ops.Case(r.PathValue("id"))
		reply(w, d, err)
	})
	serveBackup(mux, ops)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(l)
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		os.Remove(path)
	}, nil
}

type errorBody struct {
	Error    string `json:"error"`
	NotFound bool   `json:"not_found,omitempty"`
	Invalid  bool   `json:"invalid,omitempty"`
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		body := errorBody{Error: err.Error(), NotFound: errors.Is(err, casestore.ErrNotFound), Invalid: errors.Is(err, ErrInvalid)}
		switch {
		case body.NotFound:
			w.WriteHeader(http.StatusNotFound)
		case body.Invalid:
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
		json.NewEncoder(w).Encode(body)
		return
	}
	json.NewEncoder(w).Encode(v)
}

// Client talks to a running daemon through its socket.
type Client struct {
	hc *http.Client
}

var _ Interface = (*Client)(nil)

// ErrNoDaemon means no daemon answers on the data folder's socket.
var ErrNoDaemon = errors.New("no daemon answers on the control socket")

// Dial connects to the daemon of dataDir, or returns ErrNoDaemon.
func Dial(dataDir string) (*Client, error) {
	path := SocketPath(dataDir)
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w (%s): %v", ErrNoDaemon, path, err)
	}
	conn.Close()
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
	return &Client{hc: hc}, nil
}

func (c *Client) do(method, path string, in, out any) error {
	return c.doStream(method, path, in, func(r io.Reader) error { return json.NewDecoder(r).Decode(out) })
}

func (c *Client) doStream(method, path string, in any, read func(io.Reader) error) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, "http://parley"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			return fmt.Errorf("control socket: HTTP %d", resp.StatusCode)
		}
		err := errors.New(e.Error)
		switch {
		case e.NotFound:
			err = fmt.Errorf("%s: %w", strings.TrimSuffix(e.Error, ": "+casestore.ErrNotFound.Error()), casestore.ErrNotFound)
		case e.Invalid:
			err = fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(e.Error, ErrInvalid.Error()+": "))
		}
		return err
	}
	if err := read(resp.Body); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body) // the trailer comes after the body
	if e := resp.Trailer.Get(errorTrailer); e != "" {
		return fmt.Errorf("daemon: %s", e)
	}
	return nil
}

func (c *Client) AddTrader(req TraderAdd) (tr casestore.Trader, err error) {
	err = c.do("POST", "/traders", req, &tr)
	return tr, err
}

func (c *Client) Trader(handle string) (tr casestore.Trader, err error) {
	err = c.do("GET", "/traders/"+url.PathEscape(handle), nil, &tr)
	return tr, err
}

func (c *Client) ChangeTrader(req TraderChange) (tr casestore.Trader, err error) {
	err = c.do("POST", "/traders/"+url.PathEscape(req.Handle)+"/change", req, &tr)
	return tr, err
}

func (c *Client) Traders() (out []casestore.Trader, err error) {
	err = c.do("GET", "/traders", nil, &out)
	return out, err
}

func (c *Client) Cases(limit int, after string) (out CasePage, err error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "after": {after}}
	err = c.do("GET", "/cases?"+q.Encode(), nil, &out)
	return out, err
}

func (c *Client) Case(id string) (*CaseDetail, error) {
	var d CaseDetail
	if err := c.do("GET", "/cases/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (c *Client) AddMediator(req MediatorAdd) (m casestore.Mediator, err error) {
	err = c.do("POST", "/mediators", req, &m)
	return m, err
}

func (c *Client) Verify(id string) (*Verification, error) {
	var v Verification
	if err := c.do("GET", "/cases/"+url.PathEscape(id)+"/verify", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (c *Client) Export(id string, w io.Writer) error {
	return c.doStream("GET", "/cases/"+url.PathEscape(id)+"/export", nil, func(r io.Reader) error {
		_, err := io.Copy(w, r)
		return err
	})
}

func (c *Client) Mediators() (out []casestore.Mediator, err error) {
	err = c.do("GET", "/mediators", nil, &out)
	return out, err
}
