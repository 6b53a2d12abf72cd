package gdrive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/backupkit/backupkit/destination"
)

// Options configure a Drive. FolderID and one kind of credentials are
// required; the zero value of every other field means the default stated on
// it.
type Options struct {
	// FolderID is the ID of the folder that holds the objects: the last
	// part of its address in the Drive web app
	// (https://drive.google.com/drive/folders/FOLDER_ID), or a shared
	// drive's ID for its top level. It must exist, and the credentials
	// must be able to add files to it.
	FolderID string

	// SharedDrive is the ID of the shared drive the folder is on, if it is
	// on one. Listings are then made in that drive (corpora=drive).
	// Requests always carry supportsAllDrives=true, so a folder on a
	// shared drive also works without it, with listings over all drives.
	SharedDrive string

	// CredentialsFile is the path of a JSON credentials file: a service
	// account key ("type": "service_account") or an OAuth client's
	// authorised-user file with a refresh token ("type":
	// "authorized_user", as gcloud and oauth2l write). CredentialsJSON is
	// the same, given as bytes; it wins over CredentialsFile.
	CredentialsFile string
	CredentialsJSON []byte

	// ClientID, ClientSecret and RefreshToken are an OAuth client and a
	// refresh token issued to it, when there is no credentials file.
	ClientID     string
	ClientSecret string
	RefreshToken string

	// TokenSource, when set, supplies the access tokens and the fields
	// above are ignored. A token it returns that Drive refuses is asked
	// for once more, so it should return a new token after a refusal.
	TokenSource oauth2.TokenSource

	// Subject is the user a service account acts as, with domain-wide
	// delegation in Google Workspace. Empty means the service account
	// itself.
	Subject string
	// Scope is the OAuth scope requested; default ScopeFile (drive.file).
	Scope string
	// TokenURL overrides the OAuth token endpoint; default the credentials
	// file's token_uri, else GoogleTokenURL.
	TokenURL string

	// ChunkSize is the size of each upload request of a Put, a multiple of
	// 256 KiB; default DefaultChunkSize (8 MiB). A Put holds one chunk in
	// memory, and resends at most one chunk after a failure.
	ChunkSize int
	// MaxAttempts is how many times one request (or one chunk) is tried
	// before a Put or another call fails, on 5xx answers, 429, 403 rate
	// limits and dropped connections; default 6.
	MaxAttempts int
	// ChunkTimeout is how long one chunk request may take before it is
	// abandoned as stalled and retried like a dropped connection; default
	// DefaultChunkTimeout, negative for none. Set it above the time a
	// chunk takes on the slowest link in use.
	ChunkTimeout time.Duration
	// Backoff returns the pause before retry number attempt (1 for the
	// first retry); nil means DefaultBackoff. Tests set it to return 0.
	Backoff func(attempt int) time.Duration
	// CleanupAge is how old a temporary file must be before Cleanup
	// removes it; default DefaultCleanupAge.
	CleanupAge time.Duration

	// Endpoint is the base URL of the Drive API; default
	// "https://www.googleapis.com/drive/v3/". Uploads go to
	// "/upload/drive/v3/files" on the same host. Tests point it at
	// internal/fakedrive.
	Endpoint string
	// HTTPClient sends the requests, to Drive and to the token endpoint;
	// nil means http.DefaultClient. Its transport is wrapped to add the
	// access token.
	HTTPClient *http.Client
	// Logger receives warnings about leftovers that could not be removed;
	// nil means slog.Default().
	Logger *slog.Logger
	// SkipCheck makes New skip the request that checks, before any data
	// moves, that the folder exists and the credentials work.
	SkipCheck bool
}

// DefaultChunkSize is the ChunkSize used when Options.ChunkSize is zero.
const DefaultChunkSize = 8 << 20

// chunkUnit is what every chunk but the last must be a multiple of.
const chunkUnit = 256 << 10

// DefaultChunkTimeout is the ChunkTimeout used when Options.ChunkTimeout is
// zero: enough for an 8 MiB chunk at about 28 KiB/s.
const DefaultChunkTimeout = 5 * time.Minute

// DefaultCleanupAge is the CleanupAge used when Options.CleanupAge is zero.
const DefaultCleanupAge = time.Hour

// defaultMaxAttempts is the MaxAttempts used when Options.MaxAttempts is zero.
const defaultMaxAttempts = 6

// TempPrefix begins the names of the temporary files a Put uploads before
// it renames them to the object's name. Keys with a segment that begins
// with it are refused with destination.ErrInvalidKey.
const TempPrefix = ".backupkit-tmp-"

const folderMime = "application/vnd.google-apps.folder"

// fileFields are the fields requested for every file.
const fileFields = "id, name, mimeType, size, createdTime, modifiedTime"

// Drive is a destination.Destination that keeps objects in a Google Drive
// folder: key "a/b/c" is the file "c" in the folder "b" in the folder "a"
// under the root folder. It is safe for concurrent use.
type Drive struct {
	svc         *drive.Service
	client      *http.Client // adds the access token
	upClient    *http.Client // the same, following no redirects
	uploadURL   string
	root        string
	sharedDrive string
	chunkSize   int
	chunkTime   time.Duration // <= 0: none
	maxAttempts int
	backoff     func(int) time.Duration
	cleanupAge  time.Duration
	log         *slog.Logger

	foldersMu sync.Mutex
	folders   map[string]string      // folder path ("" is the root) -> ID
	creating  map[string]*sync.Mutex // folder path -> lock held while finding or creating it

	keys keyLocks // held while a Put of a key renames its file into place
}

var (
	_ destination.Destination = (*Drive)(nil)
	_ destination.Checker     = (*Drive)(nil)
	_ destination.Cleaner     = (*Drive)(nil)
)

// New checks opts and returns a Drive. Unless opts.SkipCheck is set, it
// fetches an access token and the root folder's metadata, so that bad
// credentials (ErrReauthorize, destination.ErrPermission) or a folder that
// does not exist or is not shared with the account
// (destination.ErrNotExist) fail here rather than in the middle of a
// backup. Errors never contain secrets.
func New(ctx context.Context, opts Options) (*Drive, error) {
	if opts.FolderID == "" {
		return nil, errors.New("gdrive: no folder ID")
	}
	if strings.ContainsAny(opts.FolderID, "/'\\ ") {
		return nil, fmt.Errorf("gdrive: %q is not a Drive folder ID", opts.FolderID)
	}
	d := &Drive{
		root: opts.FolderID, sharedDrive: opts.SharedDrive,
		chunkSize: opts.ChunkSize, chunkTime: opts.ChunkTimeout, maxAttempts: opts.MaxAttempts, backoff: opts.Backoff,
		cleanupAge: opts.CleanupAge, log: opts.Logger,
		folders: map[string]string{"": opts.FolderID}, creating: map[string]*sync.Mutex{},
	}
	if d.chunkSize == 0 {
		d.chunkSize = DefaultChunkSize
	}
	if d.chunkSize < chunkUnit || d.chunkSize%chunkUnit != 0 {
		return nil, fmt.Errorf("gdrive: chunk size %d is not a positive multiple of 256 KiB", opts.ChunkSize)
	}
	if d.chunkTime == 0 {
		d.chunkTime = DefaultChunkTimeout
	}
	if d.maxAttempts == 0 {
		d.maxAttempts = defaultMaxAttempts
	}
	if d.maxAttempts < 0 {
		return nil, fmt.Errorf("gdrive: max attempts %d is negative", opts.MaxAttempts)
	}
	if d.backoff == nil {
		d.backoff = DefaultBackoff
	}
	if d.cleanupAge == 0 {
		d.cleanupAge = DefaultCleanupAge
	}
	if d.cleanupAge < 0 {
		return nil, fmt.Errorf("gdrive: cleanup age %v is negative", opts.CleanupAge)
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	fetch, err := newFetcher(&opts)
	if err != nil {
		return nil, fmt.Errorf("gdrive: %w", err)
	}
	base := opts.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	client := *base
	client.Transport = &authTransport{base: rt, tokens: &tokenCache{fetch: fetch, client: base}}
	d.client = &client
	// Uploads: Google's "308 Resume Incomplete" is not a redirect; never
	// follow a Location on it.
	up := client
	up.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.upClient = &up
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = "https://www.googleapis.com/drive/v3/"
	}
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/"
	}
	d.uploadURL = googleapi.ResolveRelative(endpoint, "/upload/drive/v3/files")
	d.svc, err = drive.NewService(ctx, option.WithHTTPClient(d.client), option.WithEndpoint(endpoint))
	if err != nil {
		return nil, fmt.Errorf("gdrive: %w", err)
	}
	if !opts.SkipCheck {
		if _, err := d.rootFolder(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// GuardsStalls reports true: a chunk request that takes longer than
// Options.ChunkTimeout fails, or the timeout was turned off for it, which
// the engine respects (see destination.StallGuard).
func (d *Drive) GuardsStalls() bool { return true }

// String returns "gdrive://FOLDER_ID", with no secrets.
func (d *Drive) String() string { return Scheme + "://" + d.root }

// CreateFolder creates a folder called name inside the folder opts.FolderID
// ("root" names the top of the account's My Drive, a shared drive's ID its
// top level) with the credentials opts describes, and returns the new
// folder's ID, to use as Options.FolderID. With the drive.file scope,
// credentials see only folders they created, so this is how to make the
// root folder for them. It creates a new folder even if one of that name
// exists.
func CreateFolder(ctx context.Context, opts Options, name string) (string, error) {
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("gdrive: %q is not a folder name", name)
	}
	opts.SkipCheck = true
	d, err := New(ctx, opts)
	if err != nil {
		return "", err
	}
	var f *drive.File
	err = d.retry(ctx, func() (err error) {
		f, err = d.svc.Files.Create(&drive.File{Name: name, MimeType: folderMime, Parents: []string{opts.FolderID}}).
			Fields("id").SupportsAllDrives(true).Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gdrive: creating folder %q in %s: %w", name, opts.FolderID, err)
	}
	return f.Id, nil
}

// Service returns the Drive API client the Drive uses, with its
// credentials, for what this package does not offer.
func (d *Drive) Service() *drive.Service { return d.svc }

// rootFolder fetches the root folder's metadata and checks it is a folder.
func (d *Drive) rootFolder(ctx context.Context) (*drive.File, error) {
	var f *drive.File
	err := d.retry(ctx, func() (err error) {
		f, err = d.svc.Files.Get(d.root).Fields("id, name, mimeType, trashed, capabilities(canAddChildren)").
			SupportsAllDrives(true).Context(ctx).Do()
		return err
	})
	switch {
	case errors.Is(err, destination.ErrNotExist):
		return nil, fmt.Errorf("gdrive: folder %s does not exist or is not shared with these credentials "+
			"(with the drive.file scope, only folders these credentials created are visible): %w", d.root, err)
	case err != nil:
		return nil, fmt.Errorf("gdrive: folder %s: %w", d.root, err)
	case f.MimeType != folderMime:
		return nil, fmt.Errorf("gdrive: %s is a %s, not a folder", d.root, f.MimeType)
	case f.Trashed:
		return nil, fmt.Errorf("gdrive: folder %s is in the trash: %w", d.root, destination.ErrNotExist)
	}
	return f, nil
}

// Check reports whether the root folder exists, is not in the trash, and
// the credentials may add files to it (its capabilities.canAddChildren).
// It writes nothing.
func (d *Drive) Check(ctx context.Context) error {
	f, err := d.rootFolder(ctx)
	if err != nil {
		return err
	}
	if f.Capabilities == nil || !f.Capabilities.CanAddChildren {
		return fmt.Errorf("gdrive: folder %s (%q) is not writable with these credentials; share it with them as Editor (Content manager on a shared drive): %w",
			d.root, f.Name, destination.ErrPermission)
	}
	return nil
}

// checkKey validates key and splits it into its folder path and name.
func checkKey(key string) (dir, name string, err error) {
	if err := destination.ValidateKey(key); err != nil {
		return "", "", fmt.Errorf("gdrive: %w", err)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, TempPrefix) {
			return "", "", fmt.Errorf("gdrive: %w %q: names beginning with %q are reserved", destination.ErrInvalidKey, key, TempPrefix)
		}
	}
	dir, name = path.Split(key)
	return strings.TrimSuffix(dir, "/"), name, nil
}

// quote returns s as a Drive query string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// list returns every entry of the listing q, following page tokens.
func (d *Drive) list(ctx context.Context, q string) ([]*drive.File, error) {
	var out []*drive.File
	token := ""
	for {
		var page *drive.FileList
		err := d.retry(ctx, func() (err error) {
			c := d.svc.Files.List().Q(q).Fields(googleapi.Field("nextPageToken, files(" + fileFields + ")")).
				PageSize(1000).SupportsAllDrives(true).IncludeItemsFromAllDrives(true).Context(ctx)
			if d.sharedDrive != "" {
				c = c.Corpora("drive").DriveId(d.sharedDrive)
			}
			if token != "" {
				c = c.PageToken(token)
			}
			page, err = c.Do()
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Files...)
		if page.NextPageToken == "" {
			return out, nil
		}
		token = page.NextPageToken
	}
}

// named lists the files called name in folder that can be objects: not
// folders, nor Google Docs files (which have no bytes).
func (d *Drive) named(ctx context.Context, folder, name string) ([]*drive.File, error) {
	fs, err := d.list(ctx, "name = "+quote(name)+" and "+quote(folder)+" in parents and trashed = false and mimeType != "+quote(folderMime))
	if err != nil {
		return nil, err
	}
	// Drive's name comparison need not be exact: keep exact matches only.
	return slices.DeleteFunc(fs, func(f *drive.File) bool { return f.Name != name || isGoogleType(f) }), nil
}

// isGoogleType reports whether f is a folder or a Google Docs, Sheets,
// shortcut... file, none of which hold an object's bytes.
func isGoogleType(f *drive.File) bool {
	return strings.HasPrefix(f.MimeType, "application/vnd.google-apps.")
}

// winner returns the file that is the object among files of one name: the
// one created last, ties broken by ID, so that every reader and writer picks
// the same one.
func winner(fs []*drive.File) *drive.File {
	if len(fs) == 0 {
		return nil
	}
	return slices.MaxFunc(fs, compareTimes)
}

// compareTimes compares creation times as instants (Drive writes RFC 3339
// with varying fractions), then IDs.
func compareTimes(a, b *drive.File) int {
	ta, ea := time.Parse(time.RFC3339Nano, a.CreatedTime)
	tb, eb := time.Parse(time.RFC3339Nano, b.CreatedTime)
	if ea != nil || eb != nil {
		return cmp.Or(strings.Compare(a.CreatedTime, b.CreatedTime), strings.Compare(a.Id, b.Id))
	}
	return cmp.Or(ta.Compare(tb), strings.Compare(a.Id, b.Id))
}

// object turns a Drive file into a destination.Object.
func object(key string, f *drive.File) destination.Object {
	o := destination.Object{Key: key, Size: f.Size}
	if t, err := time.Parse(time.RFC3339Nano, f.ModifiedTime); err == nil {
		o.ModTime = t
	}
	return o
}

// find returns the file that holds key, or an ErrNotExist error.
func (d *Drive) find(ctx context.Context, key string) (*drive.File, error) {
	dir, name, err := checkKey(key)
	if err != nil {
		return nil, err
	}
	folder, ok, err := d.folder(ctx, dir, false)
	if err != nil {
		return nil, fmt.Errorf("gdrive: %s: %w", key, err)
	}
	if !ok {
		return nil, fmt.Errorf("gdrive: %s: %w", key, destination.ErrNotExist)
	}
	fs, err := d.named(ctx, folder, name)
	if err != nil {
		return nil, fmt.Errorf("gdrive: %s: %w", key, err)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("gdrive: %s: %w", key, destination.ErrNotExist)
	}
	return winner(fs), nil
}

// Stat returns the object's description, or an error matching
// destination.ErrNotExist if there is none.
func (d *Drive) Stat(ctx context.Context, key string) (destination.Object, error) {
	f, err := d.find(ctx, key)
	if err != nil {
		return destination.Object{}, err
	}
	return object(key, f), nil
}

// Open returns a reader that streams the object's bytes from Drive; the
// caller must close it. A missing key fails with an error matching
// destination.ErrNotExist. Only the request that starts the download is
// retried; an error while reading is returned by Read.
func (d *Drive) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	for try := 0; ; try++ {
		f, err := d.find(ctx, key)
		if err != nil {
			return nil, err
		}
		var resp *http.Response
		err = d.retry(ctx, func() (err error) {
			resp, err = d.svc.Files.Get(f.Id).SupportsAllDrives(true).Context(ctx).Download()
			return err
		})
		if errors.Is(err, destination.ErrNotExist) && try == 0 {
			continue // replaced by a Put between the lookup and the download
		}
		if err != nil {
			return nil, fmt.Errorf("gdrive: %s: %w", key, err)
		}
		return resp.Body, nil
	}
}

// Delete removes every file that holds key (Drive allows several of one
// name). A missing key is not an error. Files are deleted for good; where
// Drive refuses that (on a shared drive, only a Manager may), they are
// moved to the trash instead, where List, Stat and Open no longer see them.
func (d *Drive) Delete(ctx context.Context, key string) error {
	dir, name, err := checkKey(key)
	if err != nil {
		return err
	}
	folder, ok, err := d.folder(ctx, dir, false)
	if err != nil {
		return fmt.Errorf("gdrive: delete %s: %w", key, err)
	}
	if !ok {
		return nil
	}
	fs, err := d.named(ctx, folder, name)
	if err != nil {
		return fmt.Errorf("gdrive: delete %s: %w", key, err)
	}
	for _, f := range fs {
		if err := d.deleteFile(ctx, f.Id); err != nil {
			return fmt.Errorf("gdrive: delete %s: %w", key, err)
		}
	}
	return nil
}

// deleteFile deletes a file by ID; a file already gone is not an error.
// When Drive refuses the deletion (on a shared drive, only a Manager may
// delete for good), it moves the file to the trash instead, which a
// Content manager may do and which hides it from every listing here.
func (d *Drive) deleteFile(ctx context.Context, id string) error {
	err := d.retry(ctx, func() error {
		return d.svc.Files.Delete(id).SupportsAllDrives(true).Context(ctx).Do()
	})
	if errors.Is(err, destination.ErrPermission) && !errors.Is(err, ErrReauthorize) {
		terr := d.retry(ctx, func() error {
			_, err := d.svc.Files.Update(id, &drive.File{Trashed: true}).Fields("id").SupportsAllDrives(true).Context(ctx).Do()
			return err
		})
		if terr == nil {
			return nil
		}
	}
	if errors.Is(err, destination.ErrNotExist) {
		return nil
	}
	return err
}

// ---- folders ----

// folder returns the ID of the folder at path dir under the root ("" is
// the root), and whether it exists. With create, missing folders are
// created, and it always exists on success.
//
// Found folders are cached. Finding or creating one path is serialised in
// this process, so two Puts never create the same folder twice; and after
// creating a folder it lists the folder's siblings of that name again and
// settles on the oldest, so that two processes that race converge on one
// folder (the newer duplicate is removed if it is still empty).
func (d *Drive) folder(ctx context.Context, dir string, create bool) (string, bool, error) {
	d.foldersMu.Lock()
	if id, ok := d.folders[dir]; ok {
		d.foldersMu.Unlock()
		return id, true, nil
	}
	d.foldersMu.Unlock()

	parentPath, name := path.Split(dir)
	parentPath = strings.TrimSuffix(parentPath, "/")
	parent, ok, err := d.folder(ctx, parentPath, create)
	if err != nil || !ok {
		return "", false, err
	}

	d.foldersMu.Lock()
	mu := d.creating[dir]
	if mu == nil {
		mu = &sync.Mutex{}
		d.creating[dir] = mu
	}
	d.foldersMu.Unlock()
	mu.Lock()
	defer mu.Unlock()

	d.foldersMu.Lock()
	id, ok := d.folders[dir]
	d.foldersMu.Unlock()
	if ok {
		return id, true, nil
	}
	oldest, err := d.findFolder(ctx, parent, name)
	if err != nil {
		return "", false, err
	}
	if oldest == nil && !create {
		return "", false, nil
	}
	if oldest == nil {
		var made *drive.File
		err := d.retry(ctx, func() (err error) {
			made, err = d.svc.Files.Create(&drive.File{Name: name, MimeType: folderMime, Parents: []string{parent}}).
				Fields("id, name, createdTime").SupportsAllDrives(true).Context(ctx).Do()
			return err
		})
		if err != nil {
			return "", false, fmt.Errorf("creating folder %q: %w", dir, err)
		}
		if oldest, err = d.findFolder(ctx, parent, name); err != nil {
			return "", false, err
		}
		if oldest == nil {
			oldest = made // not listed yet
		}
		if oldest.Id != made.Id {
			// Another process created the same folder first: use its
			// folder, and remove ours if nobody has written to it.
			d.removeDuplicateFolder(context.WithoutCancel(ctx), dir, made.Id)
		}
	}
	d.foldersMu.Lock()
	d.folders[dir] = oldest.Id
	d.foldersMu.Unlock()
	return oldest.Id, true, nil
}

// removeDuplicateFolder deletes a folder this process created in a race
// with another, if it is still empty. Deleting a folder in Drive deletes
// what it holds, so a folder that another process already wrote to is left
// alone (readers then see only the oldest folder's contents).
func (d *Drive) removeDuplicateFolder(ctx context.Context, dir, id string) {
	held, err := d.list(ctx, quote(id)+" in parents")
	if err == nil && len(held) > 0 {
		d.log.Warn("gdrive: a duplicate folder already holds files; left in place", "folder", dir, "id", id)
		return
	}
	if err == nil {
		err = d.deleteFile(ctx, id)
	}
	if err != nil {
		d.log.Warn("gdrive: could not remove a duplicate folder", "folder", dir, "id", id, "err", err)
	}
}

// findFolder returns the oldest folder called name in parent, or nil.
func (d *Drive) findFolder(ctx context.Context, parent, name string) (*drive.File, error) {
	fs, err := d.list(ctx, "name = "+quote(name)+" and "+quote(parent)+" in parents and trashed = false and mimeType = "+quote(folderMime))
	if err != nil {
		return nil, err
	}
	fs = slices.DeleteFunc(fs, func(f *drive.File) bool { return f.Name != name || f.MimeType != folderMime })
	if len(fs) == 0 {
		return nil, nil
	}
	return slices.MinFunc(fs, compareTimes), nil
}

// forget empties the folder cache, after Drive said that a cached folder
// does not exist (someone deleted it, or one of its parents).
func (d *Drive) forget() {
	d.foldersMu.Lock()
	defer d.foldersMu.Unlock()
	clear(d.folders)
	d.folders[""] = d.root
}

// ---- listing ----

// children lists a folder's entries, sorted by the keys they lead to, with
// temporary files, Google Docs files and names that cannot be key segments
// left out, and duplicate names reduced to the file that is the object and
// the oldest folder.
func (d *Drive) children(ctx context.Context, folder string) ([]*drive.File, error) {
	all, err := d.list(ctx, quote(folder)+" in parents and trashed = false")
	if err != nil {
		return nil, err
	}
	files := map[string]*drive.File{}
	folders := map[string]*drive.File{}
	for _, f := range all {
		if strings.HasPrefix(f.Name, TempPrefix) || strings.Contains(f.Name, "/") || destination.ValidateKey(f.Name) != nil {
			continue
		}
		if f.MimeType == folderMime {
			if o := folders[f.Name]; o == nil || compareTimes(f, o) < 0 {
				folders[f.Name] = f
			}
			continue
		}
		if isGoogleType(f) {
			continue // Docs, Sheets, shortcuts...: no bytes to back up
		}
		if o := files[f.Name]; o == nil || compareTimes(f, o) > 0 {
			files[f.Name] = f
		}
	}
	out := make([]*drive.File, 0, len(files)+len(folders))
	for _, f := range files {
		out = append(out, f)
	}
	for _, f := range folders {
		out = append(out, f)
	}
	// A folder's keys all begin with its name and '/', so sorting folders
	// as name+"/" among files yields keys in lexical order.
	sortName := func(f *drive.File) string {
		if f.MimeType == folderMime {
			return f.Name + "/"
		}
		return f.Name
	}
	slices.SortFunc(out, func(a, b *drive.File) int { return strings.Compare(sortName(a), sortName(b)) })
	return out, nil
}

// List yields every object whose key starts with prefix, in lexical key
// order, folder by folder: it lists one folder at a time (all its pages,
// since Drive's order is not byte order), so it holds one folder's entries
// per level of depth. Temporary files of Puts in progress are never
// listed. An error ends the sequence and is yielded once with a zero
// Object.
func (d *Drive) List(ctx context.Context, prefix string) iter.Seq2[destination.Object, error] {
	return func(yield func(destination.Object, error) bool) {
		// Start in the deepest folder the prefix names in full.
		dir, rest := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, rest = prefix[:i], prefix[i+1:]
			if destination.ValidateKey(dir) != nil {
				return // no valid key begins with it
			}
		}
		folder, ok, err := d.folder(ctx, dir, false)
		if err != nil {
			yield(destination.Object{}, fmt.Errorf("gdrive: list %q: %w", prefix, err))
			return
		}
		if !ok {
			return
		}
		keyPrefix := ""
		if dir != "" {
			keyPrefix = dir + "/"
		}
		d.walk(ctx, folder, keyPrefix, rest, yield)
	}
}

// walk yields the objects in folder (whose keys begin with keyPrefix) whose
// names begin with namePrefix, and everything below its folders whose names
// begin with namePrefix. It returns false when the caller should stop.
func (d *Drive) walk(ctx context.Context, folder, keyPrefix, namePrefix string, yield func(destination.Object, error) bool) bool {
	entries, err := d.children(ctx, folder)
	if err != nil {
		return yield(destination.Object{}, fmt.Errorf("gdrive: list %q: %w", keyPrefix+namePrefix, err))
	}
	for _, f := range entries {
		if !strings.HasPrefix(f.Name, namePrefix) {
			continue
		}
		if f.MimeType == folderMime {
			if !d.walk(ctx, f.Id, keyPrefix+f.Name+"/", "", yield) {
				return false
			}
			continue
		}
		if !yield(object(keyPrefix+f.Name, f), nil) {
			return false
		}
	}
	return true
}

// Cleanup removes the temporary files that Puts left behind when their
// process died between the end of an upload and the rename, once they are
// older than Options.CleanupAge (so never those of a Put in progress, which
// exist for moments). It walks every folder under the root and returns the
// number of files removed.
func (d *Drive) Cleanup(ctx context.Context) (int, error) {
	n := 0
	var walk func(folder string) error
	walk = func(folder string) error {
		all, err := d.list(ctx, quote(folder)+" in parents and trashed = false")
		if err != nil {
			return err
		}
		for _, f := range all {
			switch {
			case f.MimeType == folderMime:
				if err := walk(f.Id); err != nil {
					return err
				}
			case strings.HasPrefix(f.Name, TempPrefix):
				t, err := time.Parse(time.RFC3339Nano, f.CreatedTime)
				if err != nil || time.Since(t) < d.cleanupAge {
					continue
				}
				if err := d.deleteFile(ctx, f.Id); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	}
	if err := walk(d.root); err != nil {
		return n, fmt.Errorf("gdrive: cleanup: %w", err)
	}
	return n, nil
}

// keyLocks serialises, in this process, the renaming of Puts to one key.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
