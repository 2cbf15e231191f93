package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SMSHTTP sends each message as an SMS through a provider's HTTP API, or
// a small adapter in front of one:
//
//	POST <URL>
//	Authorization: Bearer <Token>
//	Content-Type: application/json
//
//	{"to": "+79001234567", "text": "123456 is your … code. …"}
//
// "to" is the number in E.164, "text" the message in UTF-8. Any 2xx answer
// means the provider took the message; anything else is a failure, and the
// person is asked to try again. The answer's body is not read further.
type SMSHTTP struct {
	URL   string
	Token string
	// Client makes the requests (nil: one with a 15 s timeout).
	Client *http.Client
}

// smsBody is the JSON the API receives.
type smsBody struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

var defaultClient = &http.Client{Timeout: 15 * time.Second}

// Send posts text for the number to.
func (s *SMSHTTP) Send(ctx context.Context, to, text string) error {
	body, err := json.Marshal(smsBody{To: to, Text: text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	c := s.Client
	if c == nil {
		c = defaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	defer res.Body.Close()
	// Drained (a little) so the connection can be reused; the body may
	// echo the number or the text, so it goes into no error.
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("sms: the provider answered HTTP %d", res.StatusCode)
	}
	return nil
}
