package orgs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/latchkey/latchkey/storage"
)

// invitationPrefix starts every invitation token, so a leaked link is easy
// to recognise.
const invitationPrefix = "lki_"

// Invite creates a single-use invitation link for role, optionally naming
// the address it is meant for, and returns it with its token (shown once:
// only its digest is stored).
func (s *Service) Invite(ctx context.Context, a Actor, orgID, email string, role Role) (*storage.Invitation, string, error) {
	actor, err := s.role(ctx, orgID, a.UserID)
	if err != nil {
		return nil, "", err
	}
	if err := CheckInvite(actor, role); err != nil {
		return nil, "", err
	}
	if role.rank() == 0 {
		return nil, "", invalid("role", "role must be one of owner, admin, member, viewer")
	}
	email = strings.TrimSpace(email)
	if email != "" {
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || len(email) > 254 {
			return nil, "", invalid("email", "email must be a plain address such as ada@example.com")
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token := invitationPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	digest, version := s.cfg.Hasher.Digest([]byte(token))
	inv := &storage.Invitation{
		ID: NewID("inv"), OrgID: orgID, Email: email, Role: string(role), Digest: digest, PepperVersion: version,
		InvitedBy: a.UserID, ExpiresAt: s.cfg.Now().Add(s.cfg.InvitationTTL),
	}
	if err := s.store.CreateInvitation(ctx, inv); err != nil {
		return nil, "", translate(err)
	}
	s.Record(ctx, orgID, a, "member.invited", inv.ID, strings.TrimSpace(string(role)+" "+email))
	return inv, token, nil
}

// Invitations lists the organization's pending invitations (admins).
func (s *Service) Invitations(ctx context.Context, a Actor, orgID string) ([]storage.Invitation, error) {
	if _, err := s.Authorize(ctx, a, orgID, ListInvitations); err != nil {
		return nil, err
	}
	invs, err := s.store.ListInvitations(ctx, orgID, s.cfg.Now())
	return invs, translate(err)
}

// CancelInvitation deletes a pending invitation (admins).
func (s *Service) CancelInvitation(ctx context.Context, a Actor, orgID, id string) error {
	if _, err := s.Authorize(ctx, a, orgID, CancelInvitation); err != nil {
		return err
	}
	if err := translate(s.store.DeleteInvitation(ctx, orgID, id)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "member.invitation_cancelled", id, "")
	return nil
}

// lookup finds the invitation a token names: ErrNotFound for garbage and
// unknown tokens.
func (s *Service) lookup(ctx context.Context, token string) ([]byte, *storage.Invitation, error) {
	if !strings.HasPrefix(token, invitationPrefix) || len(token) > 100 {
		return nil, nil, fmt.Errorf("invitation: %w", ErrNotFound)
	}
	digest, _ := s.cfg.Hasher.Digest([]byte(token))
	inv, err := s.store.GetInvitationByDigest(ctx, digest)
	if err != nil {
		return nil, nil, translate(err)
	}
	return digest, inv, nil
}

// Pending describes an invitation to the person who follows its link.
type Pending struct {
	Invitation storage.Invitation
	Org        storage.Organization
	// InvitedBy is the inviter's username ("" when they are gone).
	InvitedBy string
}

// Peek returns the invitation a token names, for the page that asks the
// person to accept it: ErrNotFound for unknown tokens, ErrGone for used or
// expired ones.
func (s *Service) Peek(ctx context.Context, token string) (*Pending, error) {
	_, inv, err := s.lookup(ctx, token)
	if err != nil {
		return nil, err
	}
	if inv.AcceptedAt != nil || !s.cfg.Now().Before(inv.ExpiresAt) {
		return nil, ErrGone
	}
	o, err := s.store.GetOrg(ctx, inv.OrgID)
	if err != nil {
		return nil, translate(err)
	}
	p := &Pending{Invitation: *inv, Org: *o}
	if u, err := s.store.GetUser(ctx, inv.InvitedBy); err == nil {
		p.InvitedBy = u.Username
	}
	return p, nil
}

// Accept makes the actor a member with the invitation's role, using the
// invitation up: ErrNotFound for unknown tokens, ErrGone for used or
// expired ones, ErrConflict when the actor is already a member.
func (s *Service) Accept(ctx context.Context, a Actor, token string) (*storage.Invitation, error) {
	digest, _, err := s.lookup(ctx, token)
	if err != nil {
		return nil, err
	}
	inv, err := s.store.AcceptInvitation(ctx, digest, a.UserID, s.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrInactive):
		return nil, ErrGone
	case err != nil:
		return nil, translate(err)
	}
	s.Record(ctx, inv.OrgID, a, "member.joined", a.UserID, inv.Role+" via "+inv.ID)
	return inv, nil
}
