package gdrive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"

	"github.com/backupkit/backupkit/destination"
)

// errSizeMismatch is wrapped by the error of a Put whose reader yields a
// different number of bytes than PutOptions.Size.
var errSizeMismatch = errors.New("reader size differs from PutOptions.Size")

// errStalled is wrapped by the error of a chunk request that took longer
// than Options.ChunkTimeout.
var errStalled = errors.New("stalled")

// readError wraps an error from Put's reader.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the data: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// Put stores the bytes read from r under key, replacing any object there.
//
// It uploads them with one resumable upload session, in chunks of
// Options.ChunkSize read from r as they come (the length need not be
// known), under a temporary name (TempPrefix + random hex) in the key's
// folder, which it creates if needed. A chunk that fails with a 5xx, 429, a
// 403 rate limit or a dropped connection is retried after a backoff, from
// the offset the server reports it has. Drive creates the file only when
// its last byte has arrived, so a failed or canceled upload leaves nothing.
// Then Put renames the temporary file to the key's name and deletes the
// other files of that name, so the key names exactly one whole file.
//
// If Put returns an error, no file is visible under key that was not there
// before: a temporary file that was completed is deleted (and if even that
// fails, it is invisible to List, Stat and Open, and Cleanup removes it).
// Errors from r are wrapped; PutOptions.ContentType becomes the file's
// MIME type and PutOptions.Metadata its appProperties.
func (d *Drive) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	dir, name, err := checkKey(key)
	if err != nil {
		return destination.Object{}, err
	}
	if opts == nil {
		opts = &destination.PutOptions{}
	}
	if err := ctx.Err(); err != nil {
		return destination.Object{}, fmt.Errorf("gdrive: put %s: %w", key, err)
	}
	folder, _, err := d.folder(ctx, dir, true)
	if err != nil {
		return destination.Object{}, fmt.Errorf("gdrive: put %s: %w", key, err)
	}
	tmp := TempPrefix + randomHex()
	sentLast := false
	f, err := d.upload(ctx, folder, tmp, r, opts, &sentLast)
	if errors.Is(err, destination.ErrNotExist) && dir != "" {
		// The cached folder was deleted behind our back; if nothing was
		// read yet, find or create it again.
		var ue *uploadError
		if errors.As(err, &ue) && ue.start {
			d.forget()
			if folder, _, err = d.folder(ctx, dir, true); err == nil {
				f, err = d.upload(ctx, folder, tmp, r, opts, &sentLast)
			}
		}
	}
	if err != nil {
		switch {
		case f != nil:
			d.removeFile(ctx, f.Id)
		case sentLast: // Drive may have completed the file and the answer been lost
			d.removeTemp(ctx, folder, tmp)
		}
		return destination.Object{}, fmt.Errorf("gdrive: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		d.removeFile(ctx, f.Id)
		return destination.Object{}, fmt.Errorf("gdrive: put %s: %w", key, err)
	}

	unlock := d.keys.lock(key)
	defer unlock()
	// Rename with a context that a cancellation cannot interrupt halfway:
	// the object becomes visible whole, or not at all.
	cctx := context.WithoutCancel(ctx)
	var renamed *drive.File
	err = d.retry(cctx, func() (err error) {
		renamed, err = d.svc.Files.Update(f.Id, &drive.File{Name: name}).Fields(fileFields).
			SupportsAllDrives(true).Context(cctx).Do()
		return err
	})
	if err != nil {
		d.removeFile(ctx, f.Id)
		return destination.Object{}, fmt.Errorf("gdrive: put %s: renaming the uploaded file: %w", key, err)
	}
	// The new file is the newest of its name, so readers already take it
	// for the object; delete the older ones. A failure here leaves a stale
	// duplicate that readers ignore and the next Put or Delete removes.
	if fs, err := d.named(cctx, folder, name); err == nil {
		w := winner(fs)
		for _, o := range fs {
			if o.Id != w.Id {
				if err := d.deleteFile(cctx, o.Id); err != nil {
					d.log.Warn("gdrive: could not delete a replaced file", "key", key, "id", o.Id, "err", err)
				}
			}
		}
	} else {
		d.log.Warn("gdrive: could not list replaced files", "key", key, "err", err)
	}
	return object(key, renamed), nil
}

// removeFile deletes a completed temporary file after a failure, with a
// context that the failure's cancellation does not affect.
func (d *Drive) removeFile(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := d.deleteFile(cctx, id); err != nil {
		d.log.Warn("gdrive: could not delete a temporary file; Cleanup will", "id", id, "err", err)
	}
}

// removeTemp deletes the temporary file tmp if the failed upload did
// complete it after all (its last answer was lost).
func (d *Drive) removeTemp(ctx context.Context, folder, tmp string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	fs, err := d.named(cctx, folder, tmp)
	if err != nil {
		d.log.Warn("gdrive: could not look for a temporary file; Cleanup will remove it if it exists", "name", tmp, "err", err)
		return
	}
	for _, f := range fs {
		d.removeFile(cctx, f.Id)
	}
}

func randomHex() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// uploadError is an upload failure; start tells whether it happened before
// any data was read (when starting the session).
type uploadError struct {
	err   error
	start bool
}

func (e *uploadError) Error() string { return e.err.Error() }
func (e *uploadError) Unwrap() error { return e.err }

// upload sends r to a new file called name in folder with a resumable
// upload, and returns the file once Drive has it all.
// *sentLast is set once the last chunk has been sent.
func (d *Drive) upload(ctx context.Context, folder, name string, r io.Reader, opts *destination.PutOptions, sentLast *bool) (*drive.File, error) {
	session, err := d.startSession(ctx, folder, name, opts)
	if err != nil {
		return nil, &uploadError{err: err, start: true}
	}
	buf := make([]byte, d.chunkSize)
	var off int64     // bytes of the object before buf
	var peek [1]byte  // one byte read ahead to learn whether buf is the last chunk
	havePeek := false //
	for {
		n := 0
		if havePeek {
			buf[0] = peek[0]
			n, havePeek = 1, false
		}
		m, rerr := io.ReadFull(r, buf[n:])
		n += m
		final := false
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			final = true
		case rerr != nil:
			return nil, &readError{rerr}
		default: // buf is full: is there more?
			k, perr := io.ReadFull(r, peek[:])
			switch {
			case k == 1:
				havePeek = true
			case perr == io.EOF:
				final = true
			default:
				return nil, &readError{perr}
			}
		}
		if opts.Size > 0 {
			got := off + int64(n)
			if havePeek {
				got++
			}
			if got > opts.Size || (final && got != opts.Size) {
				return nil, fmt.Errorf("%w: read %d bytes or more, expected %d", errSizeMismatch, got, opts.Size)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		*sentLast = final
		f, err := d.sendChunk(ctx, session, buf[:n], off, final)
		if err != nil {
			return nil, err
		}
		off += int64(n)
		if final {
			if f.Size != off {
				return f, fmt.Errorf("Drive stored %d bytes of %d", f.Size, off)
			}
			return f, nil
		}
	}
}

// startSession starts a resumable upload and returns its session URI.
func (d *Drive) startSession(ctx context.Context, folder, name string, opts *destination.PutOptions) (string, error) {
	meta := map[string]any{"name": name, "parents": []string{folder}}
	if opts.ContentType != "" {
		meta["mimeType"] = opts.ContentType
	}
	if len(opts.Metadata) > 0 {
		meta["appProperties"] = opts.Metadata
	}
	body, err := json.Marshal(meta)
	if err != nil {
		return "", err
	}
	q := url.Values{"uploadType": {"resumable"}, "supportsAllDrives": {"true"}, "fields": {fileFields}}
	var loc string
	err = d.retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.uploadURL+"?"+q.Encode(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		if opts.ContentType != "" {
			req.Header.Set("X-Upload-Content-Type", opts.ContentType)
		}
		resp, err := d.upClient.Do(req)
		if err != nil {
			return err
		}
		defer drain(resp)
		if err := googleapi.CheckResponse(resp); err != nil {
			return err
		}
		loc = resp.Header.Get("Location")
		if loc == "" {
			return errors.New("Drive started an upload session without a Location")
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("starting the upload: %w", err)
	}
	return loc, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// sendChunk uploads data, the bytes of the object from offset start, and
// returns the file if final (data ends the object). When a request fails in
// a way worth retrying, it waits, asks the session how much it has, and
// sends the rest from there; each failure counts against MaxAttempts.
func (d *Drive) sendChunk(ctx context.Context, session string, data []byte, start int64, final bool) (*drive.File, error) {
	end := start + int64(len(data))
	pos := start // where the server is, as far as we know
	failures := 0
	authRetried := false
	query := false // ask for the status before sending
	for progress := 0; ; progress++ {
		if progress > 4*d.maxAttempts+int(len(data)/chunkUnit) {
			return nil, errors.New("the upload makes no progress")
		}
		var f *drive.File
		var got int64
		var done bool
		var err error
		if query {
			f, got, done, err = d.chunkRequest(ctx, session, nil, -1, end, final)
		} else {
			f, got, done, err = d.chunkRequest(ctx, session, data[pos-start:], pos, end, final)
		}
		if err == nil {
			query = false
			if done {
				if !final {
					return nil, errors.New("Drive completed the upload before its last chunk")
				}
				return f, nil
			}
			if got < start || got > end {
				return nil, fmt.Errorf("Drive reports %d bytes received, outside the chunk at %d-%d that it still needs", got, start, end)
			}
			pos = got
			if pos == end && !final {
				return nil, nil
			}
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if isUnauthorized(err) && !authRetried {
			authRetried = true // the transport dropped the refused token
			query = true
			continue
		}
		err = classify(err)
		if errors.Is(err, destination.ErrNotExist) {
			// Not ErrNotExist for the caller: no object is missing.
			return nil, destination.Retryable(fmt.Errorf("the upload session has expired or is gone (%v); the whole Put must start again", err))
		}
		if !destination.IsRetryable(err) {
			return nil, err
		}
		if failures++; failures >= d.maxAttempts {
			return nil, fmt.Errorf("chunk at %d failed %d times: %w", start, failures, err)
		}
		if perr := d.pause(ctx, failures); perr != nil {
			return nil, fmt.Errorf("%w (%v)", perr, err)
		}
		query = true
	}
}

// chunkRequest sends one PUT to the session: data from offset pos, or with
// data nil and pos -1, a status request. It returns the file if the upload
// is complete, else the number of bytes the server has.
func (d *Drive) chunkRequest(ctx context.Context, session string, data []byte, pos, end int64, final bool) (*drive.File, int64, bool, error) {
	total := "*"
	if final {
		total = strconv.FormatInt(end, 10)
	}
	var cr string
	if len(data) == 0 {
		cr = "bytes */" + total
	} else {
		cr = fmt.Sprintf("bytes %d-%d/%s", pos, pos+int64(len(data))-1, total)
	}
	rctx := ctx
	if d.chunkTime > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, d.chunkTime)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPut, session, bytes.NewReader(data))
	if err != nil {
		return nil, 0, false, err
	}
	req.ContentLength = int64(len(data))
	if len(data) == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	req.Header.Set("Content-Range", cr)
	resp, err := d.upClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = "the upload session" // its URI is not for logs
		}
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, 0, false, destination.Retryable(fmt.Errorf("chunk request stalled for %v: %w", d.chunkTime, errStalled))
		}
		return nil, 0, false, err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
		var f drive.File
		if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
			return nil, 0, false, fmt.Errorf("decoding the uploaded file's metadata: %w", err)
		}
		return &f, 0, true, nil
	case http.StatusPermanentRedirect: // 308 Resume Incomplete
		got, err := parseRange(resp.Header.Get("Range"))
		return nil, got, false, err
	}
	return nil, 0, false, googleapi.CheckResponse(resp)
}

// parseRange reads "bytes=0-N" (N+1 bytes received); no header means none.
func parseRange(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(h, "bytes=0-")
	if ok {
		if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n >= 0 {
			return n + 1, nil
		}
	}
	return 0, fmt.Errorf("Drive answered with a Range header %q that is not bytes=0-N", h)
}
