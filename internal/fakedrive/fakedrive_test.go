package fakedrive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// client talks to the fake with a token from its token endpoint.
type client struct {
	t   *testing.T
	s   *Server
	tok string
}

func newClient(t *testing.T) *client {
	s := New(t)
	resp, err := http.PostForm(s.TokenURL(), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {s.RefreshToken},
		"client_id": {s.ClientID}, "client_secret": {s.ClientSecret},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	return &client{t: t, s: s, tok: tok.AccessToken}
}

func (c *client) do(method, u string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.tok)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, b
}

func (c *client) start(name string) string {
	c.t.Helper()
	meta := fmt.Sprintf(`{"name":%q,"parents":[%q]}`, name, c.s.RootID)
	resp, _ := c.do("POST", c.s.URL+"/upload/drive/v3/files?uploadType=resumable&supportsAllDrives=true", []byte(meta), nil)
	require.Equal(c.t, 200, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.NotEmpty(c.t, loc)
	return loc
}

func TestResumableUpload(t *testing.T) {
	c := newClient(t)
	loc := c.start("f")
	block := bytes.Repeat([]byte("a"), chunkGranularity)

	// No bytes yet: 308 without Range.
	resp, _ := c.do("PUT", loc, nil, map[string]string{"Content-Range": "bytes */*"})
	assert.Equal(t, 308, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Range"))

	// A chunk that is not a multiple of 256 KiB is refused unless last.
	resp, _ = c.do("PUT", loc, block[:1000], map[string]string{"Content-Range": "bytes 0-999/*"})
	assert.Equal(t, 400, resp.StatusCode)

	resp, _ = c.do("PUT", loc, block, map[string]string{"Content-Range": fmt.Sprintf("bytes 0-%d/*", len(block)-1)})
	assert.Equal(t, 308, resp.StatusCode)
	assert.Equal(t, fmt.Sprintf("bytes=0-%d", len(block)-1), resp.Header.Get("Range"))
	assert.Empty(t, c.s.Files()[1:], "no file before the last byte")

	// A chunk beyond what the session has is refused.
	resp, _ = c.do("PUT", loc, block, map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/*", 2*len(block), 3*len(block)-1)})
	assert.Equal(t, 400, resp.StatusCode)

	resp, body := c.do("PUT", loc, []byte("end"), map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%d", len(block), len(block)+2, len(block)+3)})
	require.Equal(t, 200, resp.StatusCode, string(body))
	var f struct{ ID, Name, Size string }
	require.NoError(t, json.Unmarshal(body, &f))
	assert.Equal(t, "f", f.Name)
	assert.Equal(t, fmt.Sprint(len(block)+3), f.Size)

	// Asking again after completion returns the file.
	resp, _ = c.do("PUT", loc, nil, map[string]string{"Content-Range": "bytes */*"})
	assert.Equal(t, 200, resp.StatusCode)

	resp, body = c.do("GET", c.s.URL+"/drive/v3/files/"+f.ID+"?alt=media", nil, nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, append(append([]byte{}, block...), "end"...), body)
}

func TestEmptyUpload(t *testing.T) {
	c := newClient(t)
	loc := c.start("empty")
	resp, body := c.do("PUT", loc, nil, map[string]string{"Content-Range": "bytes */0"})
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"size":"0"`)
}

func TestListQueryAndPages(t *testing.T) {
	c := newClient(t)
	sub := c.s.AddFolder(c.s.RootID, "it's")
	for i := range 5 {
		c.s.AddFile(sub, "same", []byte{byte(i)}, time.Time{})
	}
	c.s.AddFolder(sub, "same") // a folder may share a file's name
	q := fmt.Sprintf(`name = 'same' and '%s' in parents and trashed = false and mimeType != '%s'`, sub, FolderMimeType)
	var ids []string
	token := ""
	for range 10 {
		v := url.Values{"q": {q}, "pageSize": {"2"}}
		if token != "" {
			v.Set("pageToken", token)
		}
		resp, body := c.do("GET", c.s.URL+"/drive/v3/files?"+v.Encode(), nil, nil)
		require.Equal(t, 200, resp.StatusCode, string(body))
		var page struct {
			NextPageToken string
			Files         []struct{ ID, MimeType string }
		}
		require.NoError(t, json.Unmarshal(body, &page))
		for _, f := range page.Files {
			assert.NotEqual(t, FolderMimeType, f.MimeType)
			ids = append(ids, f.ID)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	assert.Len(t, ids, 5)

	v := url.Values{"q": {`name = 'it\'s' and mimeType = '` + FolderMimeType + `'`}}
	resp, body := c.do("GET", c.s.URL+"/drive/v3/files?"+v.Encode(), nil, nil)
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Contains(t, string(body), sub)

	for _, bad := range []string{"name contains 'x'", "name = 'x' or name = 'y'", "fullText = 'x'", "name = 'x"} {
		resp, _ := c.do("GET", c.s.URL+"/drive/v3/files?"+url.Values{"q": {bad}}.Encode(), nil, nil)
		assert.Equal(t, 400, resp.StatusCode, "q=%s", bad)
	}
}

func TestAuthAndFaults(t *testing.T) {
	c := newClient(t)
	c.s.Inject(Fault{Op: OpGet, Status: 403})
	resp, body := c.do("GET", c.s.URL+"/drive/v3/files/"+c.s.RootID, nil, nil)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Contains(t, string(body), "userRateLimitExceeded")
	resp, _ = c.do("GET", c.s.URL+"/drive/v3/files/"+c.s.RootID, nil, nil)
	assert.Equal(t, 200, resp.StatusCode)

	c.s.Inject(Fault{Op: OpGet, ExpireToken: true})
	resp, _ = c.do("GET", c.s.URL+"/drive/v3/files/"+c.s.RootID, nil, nil)
	assert.Equal(t, 401, resp.StatusCode)
	resp, _ = c.do("GET", c.s.URL+"/drive/v3/files/"+c.s.RootID, nil, nil)
	assert.Equal(t, 401, resp.StatusCode, "the token stays expired")

	c.s.RevokeRefreshToken()
	r, err := http.PostForm(c.s.TokenURL(), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {c.s.RefreshToken},
		"client_id": {c.s.ClientID}, "client_secret": {c.s.ClientSecret},
	})
	require.NoError(t, err)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	assert.Equal(t, 400, r.StatusCode)
	assert.True(t, strings.Contains(string(b), "invalid_grant"))
}
