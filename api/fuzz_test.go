package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestParsing feeds arbitrary query strings and bodies to the
// request parsers: they never panic, and what they accept is in range
// (limits within bounds, statuses known, bodies exactly one JSON object).
func FuzzRequestParsing(f *testing.F) {
	f.Add("job=app&status=failed&limit=20&since=2026-01-02T15:04:05Z&cursor=abc", `{"name":"x","job":"app","cron":"@daily"}`)
	f.Add("limit=-1&format=csv&after=9223372036854775807", `{"target":"/tmp/x","drop_existing":true}`)
	f.Add("protected=maybe&until=tomorrow&%zz", `{"level":"restore"} {}`)
	f.Add(strings.Repeat("a=1&", 100), `{"paused":"yes"}`)
	f.Add("", "")
	f.Fuzz(func(t *testing.T, rawQuery, body string) {
		r := httptest.NewRequest("GET", "/api/v1/runs", nil)
		r.URL.RawQuery = rawQuery
		q := newQuery(r)
		rf, format := runFilter(q)
		after := q.int64("after")
		_ = q.bool("protected")
		if q.err == nil {
			if rf.Limit < 1 || rf.Limit > 1000 {
				t.Fatalf("limit %d accepted", rf.Limit)
			}
			if format != "" && format != "json" && format != "csv" {
				t.Fatalf("format %q accepted", format)
			}
			if after < 0 {
				t.Fatalf("after %d accepted", after)
			}
			known := rf.Status == ""
			for _, s := range runStatuses {
				known = known || string(rf.Status) == s
			}
			if !known {
				t.Fatalf("status %q accepted", rf.Status)
			}
		} else if _, ok := q.err.(badRequest); !ok {
			t.Fatalf("query error %T is not a bad request", q.err)
		}
		if _, err := url.ParseQuery(rawQuery); err == nil && q.err != nil && !strings.Contains(q.err.Error(), "query parameter ") {
			t.Fatalf("error does not name the parameter: %v", q.err)
		}

		var sb scheduleBody
		var rb restoreBody
		var vb verifyBody
		for _, v := range []any{&sb, &rb, &vb} {
			if err := parseBody([]byte(body), v); err != nil {
				if _, ok := err.(badRequest); !ok || !strings.HasPrefix(err.Error(), "body: ") {
					t.Fatalf("body error %v does not say it is the body's", err)
				}
			}
		}
		if sb.Name != "" || sb.Cron != "" {
			// Accepted schedule fields still go through checkCron, which
			// must not panic on anything.
			_ = checkCron(sb.Cron, sb.Timezone)
		}
	})
}

// FuzzHandler sends arbitrary paths, query strings and bodies through the
// whole API handler as an admin, limited to requests that cannot touch
// files (reads, and schedule creation and edits): every answer is a known
// status, and every error answer is a JSON {"error": ...}.
func FuzzHandler(f *testing.F) {
	fx := newFixture(f, true, "")
	h := fx.api.Handler()
	admin := fx.tokens["admin"]
	f.Add("GET", "/api/v1/runs", "job=app&limit=2&format=csv", "")
	f.Add("GET", "/api/v1/runs/"+fx.run+"/logs", "after=1&limit=1", "")
	f.Add("GET", "/api/v1/backups/"+fx.backup, "", "")
	f.Add("POST", "/api/v1/schedules", "", `{"name":"f","job":"app","cron":"*/5 * * * *","timezone":"Asia/Tokyo"}`)
	f.Add("PUT", "/api/v1/schedules/app", "", `{"cron":"monthly on last at 23:30","paused":true}`)
	f.Add("GET", "/api/v1/audit", "before=zzz&since=2026-01-01T00:00:00Z", "")
	f.Fuzz(func(t *testing.T, method, path, rawQuery, body string) {
		switch method {
		case "GET":
			if strings.HasSuffix(path, "/events") || strings.HasSuffix(path, "/download") {
				return // streams and downloads have their own tests
			}
		case "POST":
			if path != "/api/v1/schedules" {
				return
			}
		case "PUT":
		default:
			return
		}
		u, err := url.Parse("http://backupd" + path)
		if err != nil || !strings.HasPrefix(u.Path, "/") {
			return
		}
		u.RawQuery = rawQuery
		r := httptest.NewRequest(method, "/", strings.NewReader(body))
		r.URL = u
		r.RequestURI = u.RequestURI()
		r.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 201, 202, 204, 301, 307, 308, 400, 404, 405, 409:
		default:
			t.Fatalf("%s %s?%s: status %d: %s", method, path, rawQuery, w.Code, w.Body.String())
		}
		if w.Code >= 400 && w.Code != 405 && strings.HasPrefix(u.Path, "/api/") && !strings.HasPrefix(w.Body.String(), "{") {
			t.Fatalf("%s %s: error answer is not JSON: %q", method, path, w.Body.String())
		}
	})
}
