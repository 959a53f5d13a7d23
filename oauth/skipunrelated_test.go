package oauth

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
)

// fakeTokenHandler handles client_credentials only and records Populate calls.
type fakeTokenHandler struct{ populated int }

func (h *fakeTokenHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	h.populated++
	return nil
}
func (h *fakeTokenHandler) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return nil
}
func (h *fakeTokenHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}
func (h *fakeTokenHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne("client_credentials")
}

// TestSkipUnrelated: an unrelated grant gets fosite.ErrUnknownRequest
// itself (no wrapped copy carrying a stack trace) without reaching the
// handler; a related one reaches it.
func TestSkipUnrelated(t *testing.T) {
	for _, tc := range []struct {
		grant     string
		wantErr   error
		populated int
	}{
		{"client_credentials", nil, 1},
		{"refresh_token", fosite.ErrUnknownRequest, 0},
		{"authorization_code", fosite.ErrUnknownRequest, 0},
	} {
		t.Run(tc.grant, func(t *testing.T) {
			h := &fakeTokenHandler{}
			ar := fosite.NewAccessRequest(NewSession(""))
			ar.GrantTypes = fosite.Arguments{tc.grant}
			err := skipUnrelated{h}.PopulateTokenEndpointResponse(t.Context(), ar, fosite.NewAccessResponse())
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && err != tc.wantErr { //nolint:errorlint // identity: no stack-carrying copy
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && !errors.Is(err, fosite.ErrUnknownRequest) {
				t.Fatal("fosite would not treat the answer as unknown request")
			}
			if h.populated != tc.populated {
				t.Fatalf("handler populated %d times, want %d", h.populated, tc.populated)
			}
		})
	}
}
