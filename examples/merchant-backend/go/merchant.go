// Package merchant does the three things a merchant backend does with the TrustPay checkout
// edge: mint a checkout intent, verify a notification, verify the result token the page posts
// back. Standard library only; Standard Webhooks verification is written out (Go 1.19+).
package merchant

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

func mac(key []byte, text string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(text))
	return h.Sum(nil)
}

// Intent is what a checkout intent says; Amount is decimal text with two decimals ("5.00").
type Intent struct {
	OrderNo  string `json:"order_no"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Exp      int64  `json:"exp"`
}

// MintIntent signs an intent for the widget's data-intent with INTENT_SECRET.
func MintIntent(intentSecret string, intent Intent) (string, error) {
	payload, err := json.Marshal(intent)
	if err != nil {
		return "", err
	}
	signed := "v1." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac([]byte(intentSecret), signed)), nil
}

// ErrNotification is returned for every refused notification.
var ErrNotification = errors.New("notification refused")

// VerifyNotification checks a Standard Webhooks notification (raw body, headers) at now (Unix
// seconds) with the whsec_ secret and returns the body. Deduplicate on the webhook-id header.
func VerifyNotification(whsec string, header http.Header, body []byte, now int64) ([]byte, error) {
	id, ts, signatures := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	sent, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || signatures == "" || err != nil || now-sent > 300 || sent-now > 300 {
		return nil, ErrNotification
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	if err != nil {
		return nil, err
	}
	expected := mac(key, id+"."+ts+"."+string(body))
	for _, signature := range strings.Split(signatures, " ") {
		given, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(signature, "v1,"))
		if strings.HasPrefix(signature, "v1,") && err == nil && hmac.Equal(given, expected) {
			return body, nil
		}
	}
	return nil, ErrNotification
}

// Result is what a result token says.
type Result struct {
	OrderNo  string `json:"order_no"`
	State    string `json:"state"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Exp      int64  `json:"exp"`
}

// VerifyResultToken checks the result_token the page posts back with CLIENT_RESULT_SECRET at
// now; errors are result_malformed, result_version, result_bad_signature or result_expired.
func VerifyResultToken(resultSecret, token string, now int64) (Result, error) {
	var result Result
	parts := strings.Split(token, ".")
	if len(token) > 1024 || len(parts) != 3 {
		return result, errors.New("result_malformed")
	}
	if parts[0] != "v1" {
		return result, errors.New("result_version")
	}
	given, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(given, mac([]byte(resultSecret), "v1."+parts[1])) {
		return result, errors.New("result_bad_signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &result) != nil {
		return result, errors.New("result_malformed")
	}
	if now >= result.Exp {
		return result, errors.New("result_expired")
	}
	return result, nil
}
