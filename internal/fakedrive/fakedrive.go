// Package fakedrive is a FAKE Google Drive v3 server for tests: an
// httptest.Server that implements the few REST endpoints that
// destination/gdrive uses, following the behaviour the Drive v3 reference
// documents, and nothing else. It is not Google Drive and is not a complete
// emulation of it; no real Drive is reachable from this project's test
// machines, so the adapter is tested against this fake.
//
// Endpoints (paths as on www.googleapis.com):
//
//	POST   /token                              OAuth 2.0 token endpoint: grant_type=refresh_token
//	                                           and the service-account JWT bearer grant
//	GET    /drive/v3/files/{id}                files.get (metadata; alt=media downloads the content)
//	GET    /drive/v3/files                     files.list with q, pageSize, pageToken
//	POST   /drive/v3/files                     files.create without media (folders)
//	PATCH  /drive/v3/files/{id}                files.update of metadata (name, trashed)
//	DELETE /drive/v3/files/{id}                files.delete (a folder takes its descendants along)
//	POST   /upload/drive/v3/files?uploadType=resumable
//	                                           starts a resumable upload; the session URI is in Location
//	PUT    <session URI>                       uploads a chunk ("Content-Range: bytes A-B/*" or
//	                                           "bytes A-B/TOTAL"), or asks for the status
//	                                           ("bytes */*", "bytes */TOTAL"); answers
//	                                           "308 Resume Incomplete" with a Range header, or 200
//	                                           with the new file once the last byte is in
//
// Documented behaviours it follows: names are not unique (two files, or a file
// and a folder, may share a name in one folder); a file uploaded with a
// resumable session does not exist until its last byte has arrived; chunks
// other than the last must be multiples of 256 KiB; after an interrupted
// chunk the session keeps what it received (the fake keeps whole 256 KiB
// blocks) and reports it in the Range header of the next status request; an
// expired or unknown access token gets 401; a revoked refresh token gets
// 400 invalid_grant from the token endpoint; supportsAllDrives,
// includeItemsFromAllDrives, corpora and driveId are accepted.
//
// The q parameter accepts only what the adapter sends: terms joined by "and",
// each one of name = '…', '…' in parents, trashed = true|false,
// mimeType = '…' and mimeType != '…', with \' and \\ escapes. Anything else
// is answered with 400 invalid query, so that the adapter cannot come to
// depend on more than the fake checks.
//
// Faults are injected with Inject: 5xx, 429, 403 userRateLimitExceeded,
// connections dropped in the middle of a chunk, and access tokens expiring
// (401, after which the client must fetch a new token).
package fakedrive

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FolderMimeType is the MIME type of Drive folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// chunkGranularity is the size that every chunk but the last must be a
// multiple of, as the Drive documentation requires.
const chunkGranularity = 256 << 10

// Op names a kind of request, for Inject and Count.
type Op string

// The kinds of request the fake serves.
const (
	OpToken    Op = "token"    // POST /token
	OpGet      Op = "get"      // files.get for metadata
	OpDownload Op = "download" // files.get with alt=media
	OpList     Op = "list"     // files.list
	OpCreate   Op = "create"   // files.create without media
	OpUpdate   Op = "update"   // files.update
	OpDelete   Op = "delete"   // files.delete
	OpStart    Op = "start"    // POST that starts a resumable upload
	OpChunk    Op = "chunk"    // PUT of a chunk with data
	OpStatus   Op = "status"   // PUT that asks for an upload's status
)

// Fault describes failures to inject into requests of one Op.
type Fault struct {
	// Op is the kind of request to fail.
	Op Op
	// After is how many matching requests pass before the first failure.
	After int
	// Times is how many consecutive matching requests fail; zero means one.
	Times int
	// Status is the HTTP status to answer: 500, 503, 429, 403 (sent as
	// userRateLimitExceeded unless Reason says otherwise), 401 ... Ignored
	// when Drop or ExpireToken is set.
	Status int
	// Reason is the reason in the error body; default by Status.
	Reason string
	// Drop closes the connection without an answer, after reading
	// DropAfter bytes of the request body (a chunk upload keeps the whole
	// 256 KiB blocks of what it read).
	Drop      bool
	DropAfter int64
	// ExpireToken makes every access token issued so far invalid and
	// answers 401, as Drive does for an expired token: the client must get
	// a new one from the token endpoint.
	ExpireToken bool
	// Stall reads the request body, then answers nothing until the client
	// gives up (closes the connection or cancels the request).
	Stall bool
	// Before, when set, is called before the request is served, without
	// the server's lock held (to act as another client in a race). A
	// fault with only Before set does not fail the request.
	Before func()
}

type file struct {
	ID, Name, MimeType string
	Parents            []string
	Data               []byte
	Size               int64
	SHA256             [32]byte
	Created, Modified  time.Time
	Trashed            bool
	AppProperties      map[string]string
}

type session struct {
	meta     file
	received int64
	data     bytes.Buffer
	hash     hash.Hash
	done     *file
}

// Server is a running fake Drive. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, such as "http://127.0.0.1:41234".
	URL string
	// RootID is the ID of a folder that exists from the start, to use as
	// the adapter's root folder. It is also the top of the fake's My Drive:
	// the alias "root" names it as a parent.
	RootID string
	// ClientID, ClientSecret and RefreshToken are the OAuth client and the
	// refresh token that the token endpoint accepts.
	ClientID, ClientSecret, RefreshToken string

	srv *httptest.Server

	mu           sync.Mutex
	discard      bool
	files        map[string]*file
	sessions     map[string]*session
	tokens       map[string]bool
	next         int
	last         time.Time
	faults       []*faultState
	counts       map[Op]int
	grants       int
	revoked      bool
	readOnlyRoot bool
	maxPeer      int64 // largest chunk body seen, in bytes
	maxPage      int   // cap on files per list page; 0 means 1000
}

type faultState struct {
	Fault
	seen, failed int
}

// New starts a fake Drive with an empty root folder and stops it when the
// test ends. Tokens are granted to the refresh token in Server.RefreshToken
// and to any service-account JWT assertion.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{
		ClientID: "fake-client-id.apps.googleusercontent.com", ClientSecret: "fake-client-secret",
		RefreshToken: "fake-refresh-token",
		files:        map[string]*file{}, sessions: map[string]*session{}, tokens: map[string]bool{},
		counts: map[Op]int{},
	}
	root := s.addLocked(file{Name: "backups", MimeType: FolderMimeType})
	s.RootID = root.ID
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// TokenURL is the URL of the fake's OAuth token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// Endpoint is the base URL of the fake's Drive API, to pass to
// option.WithEndpoint or gdrive.Options.Endpoint.
func (s *Server) Endpoint() string { return s.URL + "/drive/v3/" }

// Discard makes uploads keep only each file's size and SHA-256, not its
// bytes, so that a test can upload more than it wants to hold in memory.
// Files uploaded while it is set cannot be downloaded.
func (s *Server) Discard(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discard = on
}

// Inject adds a fault. Faults are matched in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &faultState{Fault: f})
}

// Count returns how many requests of the given kind the fake has received,
// failed ones included.
func (s *Server) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// TokenGrants returns how many access tokens the token endpoint has issued.
func (s *Server) TokenGrants() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grants
}

// RevokeRefreshToken makes the token endpoint refuse every grant with
// invalid_grant, as Google does for a revoked or expired refresh token or a
// deleted service-account key, and invalidates the access tokens issued.
func (s *Server) RevokeRefreshToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
	clear(s.tokens)
}

// SetRootReadOnly makes the root folder report capabilities.canAddChildren
// false and refuse new children with 403 insufficientFilePermissions.
func (s *Server) SetRootReadOnly(ro bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnlyRoot = ro
}

// SetMaxPageSize makes files.list return at most n files per page whatever
// pageSize asks, as Drive may ("the server may return fewer"), so that
// tests exercise page tokens with few files.
func (s *Server) SetMaxPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPage = n
}

// MaxChunk returns the largest chunk body, in bytes, received so far.
func (s *Server) MaxChunk() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxPeer
}

// FileInfo describes a stored file or folder, as seen by the test.
type FileInfo struct {
	ID, Name, MimeType string
	Parents            []string
	Size               int64
	SHA256             [32]byte
	Created            time.Time
}

// Files returns every stored file and folder, trashed ones excluded, in
// creation order.
func (s *Server) Files() []FileInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []FileInfo
	for _, f := range s.sortedLocked() {
		if !f.Trashed {
			out = append(out, FileInfo{ID: f.ID, Name: f.Name, MimeType: f.MimeType, Parents: slices.Clone(f.Parents),
				Size: f.Size, SHA256: f.SHA256, Created: f.Created})
		}
	}
	return out
}

// AddFile stores a file with the given content directly, as another Drive
// client would, and returns its ID. created sets its creation time; the zero
// time means now.
func (s *Server) AddFile(parent, name string, data []byte, created time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.addLocked(file{Name: name, MimeType: "application/octet-stream", Parents: []string{parent},
		Data: slices.Clone(data), Size: int64(len(data)), SHA256: sha256.Sum256(data)})
	if !created.IsZero() {
		f.Created, f.Modified = created, created
	}
	return f.ID
}

// AddFolder creates a folder directly and returns its ID.
func (s *Server) AddFolder(parent, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(file{Name: name, MimeType: FolderMimeType, Parents: []string{parent}}).ID
}

func (s *Server) now() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Millisecond) // distinct, increasing times, as a test needs
	}
	s.last = t
	return t
}

func (s *Server) addLocked(f file) *file {
	s.next++
	f.ID = fmt.Sprintf("fake%06d%s", s.next, strings.Repeat("x", 10))
	f.Created = s.now()
	f.Modified = f.Created
	p := &f
	s.files[f.ID] = p
	return p
}

func (s *Server) sortedLocked() []*file {
	out := make([]*file, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *file) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ---- HTTP ----

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/token" && r.Method == http.MethodPost:
		s.token(w, r)
	case p == "/upload/drive/v3/files" && r.Method == http.MethodPost:
		s.authed(w, r, OpStart, s.startUpload)
	case p == "/upload/drive/v3/files" && r.Method == http.MethodPut:
		op := OpChunk
		if strings.HasPrefix(r.Header.Get("Content-Range"), "bytes */") {
			op = OpStatus
		}
		s.authed(w, r, op, s.putChunk)
	case p == "/drive/v3/files" && r.Method == http.MethodGet:
		s.authed(w, r, OpList, s.list)
	case p == "/drive/v3/files" && r.Method == http.MethodPost:
		s.authed(w, r, OpCreate, s.create)
	case strings.HasPrefix(p, "/drive/v3/files/") && !strings.Contains(p[len("/drive/v3/files/"):], "/"):
		id := p[len("/drive/v3/files/"):]
		switch r.Method {
		case http.MethodGet:
			if r.URL.Query().Get("alt") == "media" {
				s.authed(w, r, OpDownload, func(w http.ResponseWriter, r *http.Request) { s.download(w, id) })
			} else {
				s.authed(w, r, OpGet, func(w http.ResponseWriter, r *http.Request) { s.get(w, id) })
			}
		case http.MethodPatch:
			s.authed(w, r, OpUpdate, func(w http.ResponseWriter, r *http.Request) { s.update(w, r, id) })
		case http.MethodDelete:
			s.authed(w, r, OpDelete, func(w http.ResponseWriter, r *http.Request) { s.delete(w, id) })
		default:
			apiError(w, http.StatusMethodNotAllowed, "methodNotAllowed", "method not allowed")
		}
	default:
		apiError(w, http.StatusNotFound, "notFound", "Not Found: "+r.Method+" "+p)
	}
}

// fault returns the fault that applies to this request, if any, counting it.
func (s *Server) faultLocked(op Op) *Fault {
	s.counts[op]++
	for _, f := range s.faults {
		if f.Op != op || f.failed >= f.Times {
			continue
		}
		f.seen++
		if f.seen <= f.After {
			continue
		}
		f.failed++
		ff := f.Fault
		return &ff
	}
	return nil
}

// authed checks the bearer token and injected faults, then runs h.
func (s *Server) authed(w http.ResponseWriter, r *http.Request, op Op, h http.HandlerFunc) {
	s.mu.Lock()
	f := s.faultLocked(op)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	valid := s.tokens[tok]
	if f != nil && f.ExpireToken {
		clear(s.tokens)
		valid = false
	}
	s.mu.Unlock()
	if f != nil && f.Before != nil {
		f.Before()
		if f.Status == 0 && !f.Drop && !f.ExpireToken && !f.Stall {
			f = nil
		}
	}
	if f != nil && f.Drop {
		s.drop(w, r, op, f.DropAfter)
		return
	}
	if f != nil && f.Stall {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	}
	if !valid {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		apiError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if f != nil {
		io.Copy(io.Discard, r.Body)
		status, reason := f.Status, f.Reason
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if reason == "" {
			switch status {
			case http.StatusForbidden:
				reason = "userRateLimitExceeded"
			case http.StatusTooManyRequests:
				reason = "rateLimitExceeded"
			case http.StatusUnauthorized:
				reason = "authError"
			default:
				reason = "backendError"
			}
		}
		apiError(w, status, reason, "injected fault: "+reason)
		return
	}
	h(w, r)
}

// drop reads n bytes of the body (a chunk keeps their whole 256 KiB
// blocks), then closes the connection without answering.
func (s *Server) drop(w http.ResponseWriter, r *http.Request, op Op, n int64) {
	buf := make([]byte, n)
	got, _ := io.ReadFull(r.Body, buf)
	if op == OpChunk {
		if ss, first, _, _, ok := s.chunkTarget(r); ok && got > 0 {
			keep := int64(got) / chunkGranularity * chunkGranularity
			s.mu.Lock()
			if ss.done == nil && first <= ss.received && first+keep > ss.received {
				s.appendLocked(ss, buf[ss.received-first:keep])
			}
			s.mu.Unlock()
		}
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakedrive: cannot hijack the connection to drop it")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.faultLocked(OpToken); f != nil {
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		oauthError(w, status, "server_error", "injected fault")
		return
	}
	switch r.Form.Get("grant_type") {
	case "refresh_token":
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		if id != s.ClientID || secret != s.ClientSecret {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
			return
		}
		if s.revoked || r.Form.Get("refresh_token") != s.RefreshToken {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if !validJWT(r.Form.Get("assertion")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
			return
		}
		if s.revoked {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid grant: account not found")
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+r.Form.Get("grant_type"))
		return
	}
	s.grants++
	tok := fmt.Sprintf("fake-access-token-%d", s.grants)
	s.tokens[tok] = true
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}

// validJWT checks the shape of a service-account assertion: three
// base64url parts whose claims name an issuer, a scope and an audience. The
// fake does not check the signature (it does not know the public key).
func validJWT(a string) bool {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64URLDecode(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Iss, Scope, Aud string
	}
	return json.Unmarshal(b, &c) == nil && c.Iss != "" && c.Scope != "" && c.Aud != ""
}

// ---- files ----

func (s *Server) resource(f *file) map[string]any {
	m := map[string]any{
		"kind": "drive#file", "id": f.ID, "name": f.Name, "mimeType": f.MimeType,
		"parents": f.Parents, "trashed": f.Trashed,
		"createdTime":  f.Created.Format(time.RFC3339Nano),
		"modifiedTime": f.Modified.Format(time.RFC3339Nano),
	}
	if f.MimeType != FolderMimeType {
		m["size"] = strconv.FormatInt(f.Size, 10)
	}
	if len(f.AppProperties) > 0 {
		m["appProperties"] = f.AppProperties
	}
	canAdd := f.MimeType == FolderMimeType && !(s.readOnlyRoot && f.ID == s.RootID)
	m["capabilities"] = map[string]any{"canAddChildren": canAdd, "canEdit": true, "canDelete": true}
	return m
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, s.resource(f))
}

func (s *Server) download(w http.ResponseWriter, id string) {
	s.mu.Lock()
	f := s.files[id]
	var data []byte
	if f != nil {
		data = f.Data
	}
	s.mu.Unlock()
	if f == nil {
		notFound(w, id)
		return
	}
	if f.MimeType == FolderMimeType {
		apiError(w, http.StatusForbidden, "fileNotDownloadable", "Only files with binary content can be downloaded.")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match, err := parseQuery(q.Get("q"))
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid Value: "+err.Error())
		return
	}
	if c := q.Get("corpora"); c == "drive" && (q.Get("driveId") == "" || q.Get("includeItemsFromAllDrives") != "true") {
		apiError(w, http.StatusBadRequest, "invalid", "corpora=drive needs driveId and includeItemsFromAllDrives=true")
		return
	} else if c != "" && c != "drive" && c != "user" && c != "allDrives" && c != "domain" {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid Value: corpora")
		return
	}
	pageSize := 100
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			apiError(w, http.StatusBadRequest, "invalid", "Invalid value for pageSize")
			return
		}
		pageSize = n
	}
	start := 0
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "page-"))
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, "invalid", "Invalid Value: pageToken")
			return
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxPage > 0 {
		pageSize = min(pageSize, s.maxPage)
	}
	var hits []*file
	// Newest first: the order of an unordered Drive listing is not
	// alphabetical, and a client must not rely on it.
	for _, f := range slices.Backward(s.sortedLocked()) {
		if match(f) {
			hits = append(hits, f)
		}
	}
	out := []any{}
	end := min(start+pageSize, len(hits))
	for _, f := range hits[min(start, len(hits)):end] {
		out = append(out, s.resource(f))
	}
	resp := map[string]any{"kind": "drive#fileList", "incompleteSearch": false, "files": out}
	if end < len(hits) {
		resp["nextPageToken"] = "page-" + strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, resp)
}

// checkParentsLocked reports an error answer for parents that do not exist
// or are read-only, or "" when they are fine.
func (s *Server) checkParentsLocked(w http.ResponseWriter, parents []string) bool {
	if len(parents) > 1 {
		apiError(w, http.StatusForbidden, "cannotAddParent", "Increasing the number of parents is not allowed.")
		return false
	}
	for i, p := range parents {
		if p == "root" { // the alias of the top of My Drive
			parents[i], p = s.RootID, s.RootID
		}
		pf := s.files[p]
		if pf == nil || pf.Trashed {
			notFound(w, p)
			return false
		}
		if s.readOnlyRoot && p == s.RootID {
			apiError(w, http.StatusForbidden, "insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
			return false
		}
	}
	return true
}

type metaBody struct {
	Name          string            `json:"name"`
	MimeType      string            `json:"mimeType"`
	Parents       []string          `json:"parents"`
	Trashed       *bool             `json:"trashed"`
	AppProperties map[string]string `json:"appProperties"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var m metaBody
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkParentsLocked(w, m.Parents) {
		return
	}
	if len(m.Parents) == 0 {
		m.Parents = []string{s.RootID}
	}
	if m.Name == "" {
		m.Name = "Untitled"
	}
	f := s.addLocked(file{Name: m.Name, MimeType: m.MimeType, Parents: m.Parents, AppProperties: m.AppProperties})
	if f.MimeType == "" {
		f.MimeType = "application/octet-stream"
	}
	f.SHA256 = sha256.Sum256(nil)
	writeJSON(w, http.StatusOK, s.resource(f))
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id string) {
	var m metaBody
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		notFound(w, id)
		return
	}
	if m.Name != "" {
		f.Name = m.Name
	}
	if m.Trashed != nil {
		f.Trashed = *m.Trashed
	}
	f.Modified = s.now()
	writeJSON(w, http.StatusOK, s.resource(f))
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files[id] == nil {
		notFound(w, id)
		return
	}
	s.deleteLocked(id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteLocked(id string) {
	delete(s.files, id)
	for _, f := range s.sortedLocked() {
		if slices.Contains(f.Parents, id) {
			s.deleteLocked(f.ID)
		}
	}
}

// ---- resumable uploads ----

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("uploadType") != "resumable" {
		apiError(w, http.StatusBadRequest, "invalid", "the fake supports only uploadType=resumable")
		return
	}
	var m metaBody
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
		apiError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.checkParentsLocked(w, m.Parents) {
		return
	}
	if len(m.Parents) == 0 {
		m.Parents = []string{s.RootID}
	}
	mt := m.MimeType
	if mt == "" {
		mt = r.Header.Get("X-Upload-Content-Type")
	}
	if mt == "" {
		mt = "application/octet-stream"
	}
	s.next++
	uid := fmt.Sprintf("upload-%d", s.next)
	s.sessions[uid] = &session{meta: file{Name: m.Name, MimeType: mt, Parents: m.Parents, AppProperties: m.AppProperties},
		hash: sha256.New()}
	w.Header().Set("Location", s.URL+"/upload/drive/v3/files?uploadType=resumable&upload_id="+uid)
	w.WriteHeader(http.StatusOK)
}

// chunkTarget parses a chunk request's session and Content-Range.
// total is -1 when the request says "*".
func (s *Server) chunkTarget(r *http.Request) (ss *session, first, last, total int64, ok bool) {
	s.mu.Lock()
	ss = s.sessions[r.URL.Query().Get("upload_id")]
	s.mu.Unlock()
	if ss == nil {
		return nil, 0, 0, 0, false
	}
	first, last, total, ok = parseContentRange(r.Header.Get("Content-Range"))
	return ss, first, last, total, ok
}

// parseContentRange parses "bytes A-B/T", "bytes A-B/*", "bytes */T" and
// "bytes */*"; first is -1 for the last two.
func parseContentRange(h string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, -1, total, true
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	fa, err1 := strconv.ParseInt(a, 10, 64)
	fb, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || fa < 0 || fb < fa || (total >= 0 && fb >= total) {
		return 0, 0, 0, false
	}
	return fa, fb, total, true
}

func (s *Server) appendLocked(ss *session, b []byte) {
	if !s.discard {
		ss.data.Write(b)
	}
	ss.hash.Write(b)
	ss.received += int64(len(b))
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request) {
	ss, first, last, total, ok := s.chunkTarget(r)
	if ss == nil {
		io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusNotFound, "notFound", "upload session not found or expired")
		return
	}
	if !ok {
		io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusBadRequest, "badContent", "invalid Content-Range")
		return
	}
	if first < 0 { // status request
		s.mu.Lock()
		defer s.mu.Unlock()
		if ss.done == nil && total >= 0 && total == ss.received {
			s.finishLocked(ss)
		}
		s.answerLocked(w, ss)
		return
	}
	n := last - first + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusBadRequest, "badContent", "Content-Length does not match Content-Range")
		return
	}
	final := total >= 0 && last+1 == total
	if !final && n%chunkGranularity != 0 {
		io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusBadRequest, "badContent", "chunk size must be a multiple of 256 KiB except for the last chunk")
		return
	}
	// Read the chunk in pieces, so that the fake does not hold it all when
	// discarding.
	buf := make([]byte, 64<<10)
	pos := first
	s.mu.Lock()
	s.maxPeer = max(s.maxPeer, n)
	if ss.done != nil {
		s.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.answerLocked(w, ss)
		return
	}
	if first > ss.received {
		s.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		apiError(w, http.StatusBadRequest, "badContent", fmt.Sprintf("chunk starts at %d but only %d bytes were received", first, ss.received))
		return
	}
	s.mu.Unlock()
	for pos <= last {
		k, err := r.Body.Read(buf[:min(int64(len(buf)), last+1-pos)])
		if k > 0 {
			s.mu.Lock()
			if end := pos + int64(k); end > ss.received && ss.done == nil {
				s.appendLocked(ss, buf[ss.received-pos:k])
			}
			s.mu.Unlock()
			pos += int64(k)
		}
		if err != nil {
			break
		}
	}
	if pos <= last {
		apiError(w, http.StatusBadRequest, "badContent", "request body shorter than Content-Range")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if final && ss.done == nil && ss.received == total {
		s.finishLocked(ss)
	}
	s.answerLocked(w, ss)
}

func (s *Server) finishLocked(ss *session) {
	m := ss.meta
	m.Size = ss.received
	copy(m.SHA256[:], ss.hash.Sum(nil))
	if !s.discard {
		m.Data = slices.Clone(ss.data.Bytes())
	}
	ss.data = bytes.Buffer{}
	ss.done = s.addLocked(m)
}

func (s *Server) answerLocked(w http.ResponseWriter, ss *session) {
	if ss.done != nil {
		writeJSON(w, http.StatusOK, s.resource(ss.done))
		return
	}
	if ss.received > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", ss.received-1))
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusPermanentRedirect) // 308 Resume Incomplete
}

// ---- answers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	w.Write(b)
}

// apiError answers in the error format of Google APIs.
func apiError(w http.ResponseWriter, status int, reason, msg string) {
	domain := "global"
	if strings.Contains(reason, "RateLimit") || strings.Contains(reason, "rateLimit") {
		domain = "usageLimits"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": msg,
		"errors": []any{map[string]any{"domain": domain, "reason": reason, "message": msg}},
	}})
}

func notFound(w http.ResponseWriter, id string) {
	apiError(w, http.StatusNotFound, "notFound", "File not found: "+id+".")
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}
