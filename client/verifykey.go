package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// verifyResponse is the body of POST /v1/keys/verify.
type verifyResponse struct {
	Valid        *bool         `json:"valid"`
	Code         string        `json:"code"`
	KeyID        string        `json:"key_id"`
	Owner        string        `json:"owner"`
	Scopes       []string      `json:"scopes"`
	Environment  string        `json:"environment"`
	ExpiresAt    *time.Time    `json:"expires_at"`
	Tier         string        `json:"tier"`
	Kind         string        `json:"kind"`
	Organization *Organization `json:"organization"`
	Tenants      []Tenant      `json:"tenants"`
	Check        *checkAnswer  `json:"check"`
}

// checkAnswer is the "check" object of a verify answer.
type checkAnswer struct {
	Passed *bool `json:"passed"`
	Tenant *struct {
		ID         string `json:"id"`
		Permission string `json:"permission"`
		Passed     *bool  `json:"passed"`
	} `json:"tenant"`
	Permissions *struct {
		Query  string `json:"query"`
		Passed *bool  `json:"passed"`
		Failed string `json:"failed"`
	} `json:"permissions"`
}

// verifyKey asks POST /v1/keys/verify about an API key and, when pc is not
// nil, to evaluate that check in the same call. Scopes a route needs are
// checked by the caller, so the answer (and its cache entry) does not
// depend on them.
func (v *Verifier) verifyKey(ctx context.Context, key string, pc *preparedCheck) (*Identity, *CheckResult, error) {
	req := map[string]any{"key": key, "scopes": []string{}}
	if pc != nil {
		pc.addTo(req)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	resp, err := v.postVerify(ctx, body)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// A 401/403 here concerns our client token, not the key: unavailable.
		// So does a 400 to a check from a server that predates checks.
		return nil, nil, fmt.Errorf("%w: verifying API key: %w", ErrUnavailable, errorFromResponse(resp))
	}
	var vr verifyResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&vr); err != nil || vr.Valid == nil {
		return nil, nil, fmt.Errorf("%w: unexpected answer from /v1/keys/verify", ErrUnavailable)
	}
	var res *CheckResult
	if pc != nil && vr.Check != nil {
		if res, err = pc.fromAnswer(vr.Check); err != nil {
			return nil, nil, err
		}
	}
	if !*vr.Valid && !res.explains(vr.Code) {
		switch vr.Code {
		case "RATE_LIMITED":
			return nil, nil, ErrRateLimited
		case "INSUFFICIENT_SCOPE":
			// Cannot happen (no scopes were asked for, and no failed
			// permissions check says so); treat as valid-but-unknown.
			return nil, nil, fmt.Errorf("%w: unexpected answer from /v1/keys/verify", ErrUnavailable)
		case "":
			return nil, nil, ErrInvalidCredential
		}
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalidCredential, strings.ToLower(vr.Code))
	}
	id := &Identity{
		Kind: KindAPIKey, Subject: vr.Owner, KeyID: vr.KeyID, Scopes: vr.Scopes,
		Environment: vr.Environment, Tier: vr.Tier,
		KeyKind: vr.Kind, Organization: vr.Organization, Tenants: vr.Tenants,
	}
	if id.Scopes == nil {
		id.Scopes = []string{}
	}
	if vr.ExpiresAt != nil {
		id.ExpiresAt = *vr.ExpiresAt
	}
	if pc != nil && res == nil {
		// A server that ignored the check: "valid" says nothing about
		// it, so evaluate it on what the server did say.
		res = pc.evalLocal(id)
	}
	return id, res, nil
}

// postVerify sends body to POST /v1/keys/verify with the Verifier's
// client_credentials token, renewing the token once if Latchkey refuses
// it. The caller closes the answer's body.
func (v *Verifier) postVerify(ctx context.Context, body []byte) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		ts := v.clientToken()
		tok, err := ts.Token()
		if err != nil {
			// Never surface the client secret or the key; oauth2 errors carry neither.
			return nil, fmt.Errorf("%w: obtaining a %s client token: %w", ErrUnavailable, VerifyScope, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/v1/keys/verify", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		tok.SetAuthHeader(req)
		resp, err := v.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: verifying API key: %w", ErrUnavailable, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			// Our client token was revoked or expired early: get a new one once.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
			resp.Body.Close()
			v.dropClientToken(ts)
			continue
		}
		return resp, nil
	}
}
