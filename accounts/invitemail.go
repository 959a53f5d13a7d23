package accounts

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/orgs"
)

// InvitationPath starts the page an invitation link opens
// (InvitationPath + token; package web serves it).
const InvitationPath = "/invitations/"

// invitationSendTimeout bounds the invitation mail, which the admin's
// request waits for.
const invitationSendTimeout = 30 * time.Second

// InvitationLookup describes the invitation a token names, as its page
// shows it (orgs.Service.Peek).
type InvitationLookup func(ctx context.Context, token string) (*orgs.Pending, error)

// invitationData is what the invitation mail templates receive: nothing
// secret but the link itself.
type invitationData struct {
	Org, InvitedBy, Role, Email, Expires, Link, Site string
}

// MailInvitation mails the link of a just-created invitation to the
// address it names: the organization, the inviter's username, the role,
// the expiry and the link — the same facts its page shows. It reports
// whether a mail was handed to the sender; an invitation naming no
// address, an unknown, used or expired token, or a failed send is false
// (a failure is logged, never the address or the token), so the caller
// still shows the link once. Called once per created invitation, it mails
// an address no more often than it is invited.
func (s *SelfService) MailInvitation(ctx context.Context, token string) bool {
	if s.cfg.Invitations == nil {
		return false
	}
	p, err := s.cfg.Invitations(ctx, token)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "invitation mail: lookup", "error", err)
		return false
	}
	inv := &p.Invitation
	if inv.Email == "" {
		return false
	}
	by := p.InvitedBy
	if by == "" {
		by = "a former member"
	}
	m, err := s.composer.Compose("invitation", inv.Email, invitationData{
		Org: p.Org.Name, InvitedBy: by, Role: inv.Role, Email: inv.Email,
		Expires: inv.ExpiresAt.UTC().Format("Mon, 2 Jan 2006 15:04 MST"),
		Link:    s.cfg.BaseURL + InvitationPath + token, Site: s.cfg.BaseURL,
	})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invitationSendTimeout)
		defer cancel()
		err = s.cfg.Sender.Send(ctx, m)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "invitation mail not sent; the link was shown to the admin",
			"invitation_id", inv.ID, "org_id", inv.OrgID, "error", err)
		return false
	}
	s.cfg.Logger.InfoContext(ctx, "invitation mailed", "event", "invitation_mailed", "invitation_id", inv.ID, "org_id", inv.OrgID)
	return true
}
