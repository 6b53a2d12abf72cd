package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/roles"
	"github.com/backupkit/backupkit/store"
)

// authzCase is one endpoint of the authorization table: the request to
// send (its path and body may depend on the caller's role, so that
// creating calls do not collide) and the status a caller allowed to call it
// gets.
type authzCase struct {
	method, pattern string
	path            func(f *fixture) string
	body            func(role string) string
	allowed         int
}

func fixed(p string) func(*fixture) string { return func(*fixture) string { return p } }

func authzCases() []authzCase {
	backupPath := func(suffix string) func(f *fixture) string {
		return func(f *fixture) string { return "/api/v1/backups/" + f.backup + suffix }
	}
	runPath := func(suffix string) func(f *fixture) string {
		return func(f *fixture) string { return "/api/v1/runs/" + f.run + suffix }
	}
	return []authzCase{
		{"GET", "/healthz", fixed("/healthz"), nil, 200},
		{"GET", "/readyz", fixed("/readyz"), nil, 200},
		{"GET", "/metrics", fixed("/metrics"), nil, 200},
		{"GET", "/api/v1/jobs", fixed("/api/v1/jobs"), nil, 200},
		{"POST", "/api/v1/jobs/{job}/run", fixed("/api/v1/jobs/manual/run"), nil, 202},
		{"GET", "/api/v1/schedules", fixed("/api/v1/schedules"), nil, 200},
		{"POST", "/api/v1/schedules", fixed("/api/v1/schedules"), func(role string) string {
			return `{"name":"extra-` + role + `","job":"manual","cron":"@daily","timezone":"Europe/Berlin"}`
		}, 201},
		{"GET", "/api/v1/schedules/{name}", fixed("/api/v1/schedules/app"), nil, 200},
		{"PUT", "/api/v1/schedules/{name}", fixed("/api/v1/schedules/app"), func(string) string { return `{"cron":"0 4 1 1 *"}` }, 200},
		{"DELETE", "/api/v1/schedules/{name}", fixed("/api/v1/schedules/no-such-schedule"), nil, 404},
		{"POST", "/api/v1/schedules/{name}/pause", fixed("/api/v1/schedules/app/pause"), nil, 200},
		{"POST", "/api/v1/schedules/{name}/resume", fixed("/api/v1/schedules/app/resume"), nil, 200},
		{"POST", "/api/v1/schedules/{name}/run", fixed("/api/v1/schedules/app/run"), nil, 202},
		{"GET", "/api/v1/runs", fixed("/api/v1/runs?job=app&limit=5"), nil, 200},
		{"GET", "/api/v1/runs/{id}", runPath(""), nil, 200},
		{"GET", "/api/v1/runs/{id}/logs", runPath("/logs?after=0"), nil, 200},
		{"GET", "/api/v1/runs/{id}/events", runPath("/events"), nil, 200},
		{"POST", "/api/v1/runs/{id}/pause", runPath("/pause"), nil, 409},   // the run has ended
		{"POST", "/api/v1/runs/{id}/resume", runPath("/resume"), nil, 409}, // the run has ended
		{"GET", "/api/v1/events", fixed("/api/v1/events"), nil, 200},
		{"GET", "/api/v1/backups", fixed("/api/v1/backups?job=app"), nil, 200},
		{"GET", "/api/v1/backups/{id}", backupPath(""), nil, 200},
		{"GET", "/api/v1/backups/{id}/download", backupPath("/download?raw=true"), nil, 200},
		{"DELETE", "/api/v1/backups/{id}", fixed("/api/v1/backups/no-such-backup"), nil, 404},
		{"POST", "/api/v1/backups/{id}/protect", backupPath("/protect"), nil, 200},
		{"POST", "/api/v1/backups/{id}/unprotect", backupPath("/unprotect"), nil, 200},
		{"POST", "/api/v1/backups/{id}/restore", backupPath("/restore"), func(role string) string {
			return `{"target":"restored-` + role + `","dry_run":true}`
		}, 202},
		{"POST", "/api/v1/backups/{id}/verify", backupPath("/verify"), func(string) string { return `{"level":"exists"}` }, 202},
		{"GET", "/api/v1/stats", fixed("/api/v1/stats?job=app"), nil, 200},
		{"GET", "/api/v1/audit", fixed("/api/v1/audit?limit=10"), nil, 200},
	}
}

// TestAuthorizationTable: every endpoint × every role, no token and a bad
// token → the expected status: 401 without a valid token, 403 for a role
// below the endpoint's, the endpoint's own status otherwise. Every route
// of Endpoints() must be in the table.
func TestAuthorizationTable(t *testing.T) {
	// 60 failed authentications from one address: above the default
	// failed_auth limit, which TestFailedAuthenticationsAreThrottled tests.
	f := newFixture(t, true, "  rate_limits:\n    failed_auth: {burst: 1000, every: 1ms}\n")
	cases := authzCases()
	inTable := map[string]bool{}
	for _, c := range cases {
		inTable[c.method+" "+c.pattern] = true
	}
	need := map[string]string{}
	for _, e := range Endpoints() {
		require.True(t, inTable[e.Method+" "+e.Pattern], "endpoint %s %s is missing from the authorization table", e.Method, e.Pattern)
		need[e.Method+" "+e.Pattern] = e.Role
	}
	callers := []string{"none", "bad", config.RoleViewer, config.RoleOperator, config.RoleAdmin}
	for _, c := range cases {
		role, ok := need[c.method+" "+c.pattern]
		require.True(t, ok, "table entry %s %s is not an endpoint", c.method, c.pattern)
		for _, who := range callers {
			t.Run(fmt.Sprintf("%s %s as %s", c.method, c.pattern, who), func(t *testing.T) {
				token := f.tokens[who]
				if who == "bad" {
					token = "bkd_not-a-configured-token"
				}
				want := c.allowed
				switch {
				case role == "":
				case who == "none" || who == "bad":
					want = http.StatusUnauthorized
				case !roles.Allows(who, role):
					want = http.StatusForbidden
				}
				body := ""
				if c.body != nil {
					body = c.body(who)
				}
				got := f.status(c.method, c.path(f), token, body)
				assert.Equal(t, want, got)
			})
		}
	}
	// Failed authentication and denied calls are in the audit trail.
	for _, action := range []string{"auth.failed", "auth.denied"} {
		entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Action: action, Limit: 1000})
		require.NoError(t, err)
		assert.NotEmpty(t, entries, action)
	}
}

// TestNoTokensEveryoneIsAdmin: without tokens every caller is the
// anonymous admin, whatever it sends.
func TestNoTokensEveryoneIsAdmin(t *testing.T) {
	f := newFixture(t, false, "")
	assert.True(t, f.auth.Open())
	resp, body := f.do("POST", "/api/v1/backups/"+f.backup+"/protect", "", "")
	assert.Equal(t, 200, resp.StatusCode, body)
	resp, _ = f.do("GET", "/api/v1/jobs", "some-token", "")
	assert.Equal(t, 200, resp.StatusCode)
	entries, err := f.rt.Store.ListAudit(t.Context(), store.AuditFilter{Action: "backup.protect"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "anonymous", entries[0].Actor)
}

// TestErrorsAreJSONAndNameTheField: bad parameters answer 400 with a JSON
// error naming the parameter; unknown routes 404.
func TestErrorsAreJSONAndNameTheField(t *testing.T) {
	f := newFixture(t, true, "")
	admin := f.tokens[config.RoleAdmin]
	for path, field := range map[string]string{
		"/api/v1/runs?limit=0":                     "limit",
		"/api/v1/runs?limit=x":                     "limit",
		"/api/v1/runs?status=done":                 "status",
		"/api/v1/runs?since=yesterday":             "since",
		"/api/v1/runs?cursor=garbage":              "cursor",
		"/api/v1/backups?protected=no!":            "protected",
		"/api/v1/audit?until=1":                    "until",
		"/api/v1/runs/" + f.run + "/logs?after=-1": "after",
	} {
		resp, body := f.do("GET", path, admin, "")
		assert.Equal(t, 400, resp.StatusCode, path)
		e := decode[apiError](t, body)
		assert.Contains(t, e.Error, field, path)
	}
	for body, field := range map[string]string{
		`{"name":"x","job":"app","cron":"61 * * * *"}`:               "cron",
		`{"name":"x","job":"nope","cron":"@daily"}`:                  "job",
		`{"name":"X Y","job":"app","cron":"@daily"}`:                 "name",
		`{"name":"x","job":"app","cron":"@daily","timezone":"Mars"}`: "timezone",
		`{"name":"x","job":"app","cron":"@daily","extra":1}`:         "extra",
		`{"name":`: "body",
	} {
		resp, out := f.do("POST", "/api/v1/schedules", admin, body)
		assert.Equal(t, 400, resp.StatusCode, body)
		assert.Contains(t, decode[apiError](t, out).Error, field, body)
	}
	resp, _ := f.do("GET", "/api/v1/nothing-here", admin, "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = f.do("GET", "/api/v1/runs/nope", admin, "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, body := f.do("GET", "/api/v1/nothing-here", "", "")
	assert.Equal(t, 401, resp.StatusCode)
	assert.True(t, json.Valid([]byte(body)))
	assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer"))
}

// TestLoginCookie: the web page's login cookie authenticates GET requests
// of the API only (changes need the Authorization header), while Role and
// Who, for the web page, accept it for every method.
func TestLoginCookie(t *testing.T) {
	f := newFixture(t, true, "")
	f.auth.Cookie = func(r *http.Request) string {
		c, err := r.Cookie("backupkit_token")
		if err != nil {
			return ""
		}
		return c.Value
	}
	send := func(method, path string) int {
		req, _ := http.NewRequest(method, f.srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "backupkit_token", Value: f.tokens[config.RoleAdmin]})
		resp, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, send("GET", "/api/v1/backups/"+f.backup))
	assert.Equal(t, 401, send("POST", "/api/v1/backups/"+f.backup+"/protect"))
	req := httptest.NewRequest("POST", "/backups/x/protect", nil)
	req.AddCookie(&http.Cookie{Name: "backupkit_token", Value: f.tokens[config.RoleOperator]})
	assert.Equal(t, config.RoleOperator, f.auth.Role(req))
	assert.Equal(t, "operator-token", f.auth.Who(req))
	assert.Equal(t, "", f.auth.Role(httptest.NewRequest("GET", "/", nil)))
}
