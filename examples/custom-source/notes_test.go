package notes_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/sourcetest"

	notes "example.com/backupkit-notes-source"
)

const token = "tok-Secret4711"

// service is an in-memory notes service with the API the package documents.
type service struct {
	mu         sync.Mutex
	workspaces map[string]map[string]notes.Note
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/workspaces/"), "/")
	ws, ok := s.workspaces[parts[0]]
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet && ok:
		_ = json.NewEncoder(w).Encode(map[string]int{"notes": len(ws)})
	case len(parts) == 1 && r.Method == http.MethodDelete && ok:
		delete(s.workspaces, parts[0])
	case len(parts) == 2 && parts[1] == "notes" && r.Method == http.MethodGet && ok:
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range ws {
				if id > r.URL.Query().Get("after") && !yield(id) {
					return
				}
			}
		})
		var limit int
		_, _ = fmt.Sscan(r.URL.Query().Get("limit"), &limit)
		page := []notes.Note{}
		for _, id := range ids[:min(limit, len(ids))] {
			page = append(page, ws[id])
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"notes": page})
	case len(parts) == 3 && parts[1] == "notes" && r.Method == http.MethodPut:
		var n notes.Note
		if json.NewDecoder(r.Body).Decode(&n) != nil {
			http.Error(w, "bad note", http.StatusBadRequest)
			return
		}
		if !ok {
			ws = map[string]notes.Note{}
			s.workspaces[parts[0]] = ws
		}
		ws[n.ID] = n
	case len(parts) == 2 && parts[1] == "rename" && r.Method == http.MethodPost && ok:
		to := r.URL.Query().Get("to")
		if _, taken := s.workspaces[to]; taken {
			http.Error(w, "exists", http.StatusConflict)
			return
		}
		s.workspaces[to] = ws
		delete(s.workspaces, parts[0])
	default:
		http.NotFound(w, r)
	}
}

// harness connects the service to sourcetest: the source's workspace is
// "main"; restore targets are new workspaces.
type harness struct {
	srv  *httptest.Server
	svc  *service
	next atomic.Int64
}

func (h *harness) open(t testing.TB, ws string) source.Source {
	u, err := url.Parse(h.srv.URL)
	require.NoError(t, err)
	src, err := source.Open(t.Context(), "notes://"+u.Host+"/"+ws+"?plain_http=true&token="+token)
	require.NoError(t, err)
	return src
}

func (h *harness) Source(t testing.TB) source.Source { return h.open(t, "main") }

func (h *harness) Seed(t testing.TB, variant int) {
	ws := map[string]notes.Note{}
	switch variant {
	case 0:
		ws["a"] = notes.Note{ID: "a", Title: "Groceries", Body: "milk\neggs"}
		ws["b"] = notes.Note{ID: "b", Title: "Ünïcødé ✓", Body: ""}
		ws["c/d"] = notes.Note{ID: "c/d", Title: `quotes "and" \backslashes`, Body: strings.Repeat("x", 10000)}
	case 1: // several pages
		for i := range 250 {
			id := fmt.Sprintf("n%04d", i)
			ws[id] = notes.Note{ID: id, Title: "note " + id, Body: strings.Repeat("body ", i)}
		}
	}
	h.svc.mu.Lock()
	h.svc.workspaces["main"] = ws
	h.svc.mu.Unlock()
}

func (h *harness) RestoreTarget(t testing.TB) string {
	return fmt.Sprintf("restored-%d", h.next.Add(1))
}

func (h *harness) OpenTarget(t testing.TB, target string) source.Source { return h.open(t, target) }

func TestConformance(t *testing.T) {
	svc := &service{workspaces: map[string]map[string]notes.Note{}}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	sourcetest.Run(t, &harness{srv: srv, svc: svc}, sourcetest.Config{
		Lacks:  sourcetest.PointInTime, // the API has no snapshot reads
		Secret: token,
	})

	// A failed restore leaves no scratch workspace behind.
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for name := range svc.workspaces {
		assert.NotContains(t, name, ".restoring-", "scratch workspace left behind")
	}
}

func TestBadURL(t *testing.T) {
	_, err := source.Open(t.Context(), "notes://host/?token="+token)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), token)
	assert.Contains(t, err.Error(), "workspace")
}
