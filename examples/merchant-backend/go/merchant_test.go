package merchant

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

// The shared vectors (tests/data/vectors.json), or the file named by $VECTORS.
type vectors struct {
	Intents struct {
		Mint []struct {
			Name, Key, Intent string
			Payload           Intent
		}
	}
	Notifications []struct {
		Name, Secret, Body, Error string
		Headers                   map[string]string
		Now                       int64
		Valid                     bool
		Event                     struct {
			ID, Type string
			OrderNo  string `json:"order_no"`
		}
	}
	ResultTokens []struct {
		Name, Key, Token, Error string
		Now                     int64
		Valid                   bool
		Result                  Result
	} `json:"result_tokens"`
}

func load(t *testing.T) vectors {
	path := os.Getenv("VECTORS")
	if path == "" {
		path = "../../../tests/data/vectors.json"
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntents(t *testing.T) {
	for _, v := range load(t).Intents.Mint {
		t.Run(v.Name, func(t *testing.T) {
			if got, err := MintIntent(v.Key, v.Payload); err != nil || got != v.Intent {
				t.Fatalf("got %q (%v), want %q", got, err, v.Intent)
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	for _, v := range load(t).Notifications {
		t.Run(v.Name, func(t *testing.T) {
			header := http.Header{}
			for name, value := range v.Headers {
				header.Set(name, value)
			}
			body, err := VerifyNotification(v.Secret, header, []byte(v.Body), v.Now)
			if !v.Valid {
				if err == nil {
					t.Fatalf("accepted; want %s", v.Error)
				}
				return
			}
			var event struct {
				ID, Type string
				Data     struct {
					OrderNo string `json:"order_no"`
				}
			}
			if err != nil || json.Unmarshal(body, &event) != nil {
				t.Fatalf("refused: %v", err)
			}
			if event.ID != v.Event.ID || event.Type != v.Event.Type || event.Data.OrderNo != v.Event.OrderNo {
				t.Fatalf("event %+v, want %+v", event, v.Event)
			}
		})
	}
}

func TestResultTokens(t *testing.T) {
	for _, v := range load(t).ResultTokens {
		t.Run(v.Name, func(t *testing.T) {
			result, err := VerifyResultToken(v.Key, v.Token, v.Now)
			switch {
			case v.Valid && (err != nil || result != v.Result):
				t.Fatalf("got %+v (%v), want %+v", result, err, v.Result)
			case !v.Valid && (err == nil || err.Error() != v.Error):
				t.Fatalf("got %v, want %s", err, v.Error)
			}
		})
	}
}
