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
