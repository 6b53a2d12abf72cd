package webhook_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/backupkit/backupkit/notify/webhook"
)

// A receiver checks the signature and the timestamp before it trusts the
// body.
func ExampleVerifyRequest() {
	secret := []byte("shared secret")
	http.HandleFunc("/backupkit", func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		fmt.Println(p.Type, p.Job, p.Error, p.Link)
	})
}
