package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// KeyTokenSource returns an [oauth2.TokenSource] that exchanges apiKey for
// an access token at POST {baseURL}/tokens/generate (sending the key as
// "Authorization: Bearer <key>") and reuses that token until shortly before
// it expires (one minute by default, see [WithEarlyExpiry]), then exchanges
// the key again. It is safe for concurrent use.
//
// The tokens are ordinary OAuth access tokens (RFC 6750 bearer tokens)
// carrying the key's scopes, so
//
//	hc := oauth2.NewClient(ctx, client.KeyTokenSource(ctx, "https://auth.example.com", key))
//
// is an *http.Client for any Latchkey-protected API. An error answer from
// Latchkey is returned as an [*Error] (a revoked or unknown key gives
// Status 401 and Code "invalid_api_key", an expired one Code
// "token_expired"); transport failures are returned wrapped.
//
// ctx is used for every exchange, not just the first: it must outlive the
// token source. The HTTP client is the one given by [WithHTTPClient], else
// the one stored in ctx under oauth2.HTTPClient, else a client with a
// 10-second timeout.
func KeyTokenSource(ctx context.Context, baseURL, apiKey string, opts ...Option) oauth2.TokenSource {
	o := newOptions(opts)
	hc := o.httpClient
	if hc == nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			hc = c
		} else {
			hc = &http.Client{Timeout: defaultTimeout}
		}
	}
	early := o.earlyExpiry
	if early <= 0 {
		// oauth2 treats 0 as "use its 10 s default"; 1 ns means "at expiry".
		early = time.Nanosecond
	}
	src := &keySource{ctx: ctx, endpoint: strings.TrimRight(baseURL, "/") + "/tokens/generate", apiKey: apiKey, hc: hc}
	return oauth2.ReuseTokenSourceWithExpiry(nil, src, early)
}

// keySource performs one exchange per Token call; ReuseTokenSource caches.
type keySource struct {
	ctx      context.Context
	endpoint string
	apiKey   string
	hc       *http.Client
}

// generateResponse is the body of a successful POST /tokens/generate.
type generateResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresIn int64     `json:"expires_in"`
	ExpiresAt time.Time `json:"expires_at"`
	Scope     string    `json:"scope"`
}

// Token exchanges the API key for a new access token.
func (s *keySource) Token() (*oauth2.Token, error) {
	if s.apiKey == "" {
		return nil, errors.New("latchkey: no API key to exchange")
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("latchkey: building token request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("latchkey: exchanging API key: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse(resp)
	}
	var g generateResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&g); err != nil {
		return nil, fmt.Errorf("latchkey: decoding token response: %w", err)
	}
	if g.Token == "" {
		return nil, errors.New("latchkey: token response carries no token")
	}
	if g.TokenType != "" && !strings.EqualFold(g.TokenType, "Bearer") {
		return nil, fmt.Errorf("latchkey: unsupported token type %q", g.TokenType)
	}
	exp := g.ExpiresAt
	if exp.IsZero() && g.ExpiresIn > 0 {
		exp = time.Now().Add(time.Duration(g.ExpiresIn) * time.Second)
	}
	tok := &oauth2.Token{AccessToken: g.Token, TokenType: "Bearer", Expiry: exp, ExpiresIn: g.ExpiresIn}
	return tok.WithExtra(map[string]any{"scope": g.Scope, "expires_in": g.ExpiresIn}), nil
}
