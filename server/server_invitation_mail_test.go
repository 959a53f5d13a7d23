package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/smtptest"
)

// invitationMailServer starts an organization server mailing through smtp
// (an address nothing listens on when smtpURL is "closed").
func invitationMailServer(t *testing.T, smtpURL string) (*testServer, *orgPeople, *roleOrg) {
	t.Helper()
	s := orgServer(t, func(_ testing.TB, c *config.Config) {
		c.SMTP.URL, c.SMTP.From = smtpURL, "Latchkey <no-reply@example.com>"
	})
	p := newOrgPeople(t, s, "im-")
	return s, p, newRoleOrg(t, s, p, "Mail & Co")
}

// checkInvitationMail: m went to "to" only, names the organization, the
// inviter, the role and the expiry, carries the link and nothing else
// secret, and returns the link.
func checkInvitationMail(t *testing.T, s *testServer, m smtptest.Message, to, inviter, role string) string {
	t.Helper()
	if len(m.To) != 1 || m.To[0] != to {
		t.Errorf("mailed %q, want %s", m.To, to)
	}
	link := m.Link("/invitations/")
	if !strings.HasPrefix(link, s.URL+"/invitations/lki_") {
		t.Fatalf("no invitation link in the mail:\n%s", m.Text)
	}
	for _, want := range []string{"Mail & Co", inviter, role, "Expires:"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("mail text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.Subject, inviter) || !strings.Contains(m.Subject, "Mail & Co") {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.HTML, "Mail &amp; Co") || !strings.Contains(m.HTML, link) {
		t.Errorf("HTML alternative lacks the escaped name or the link:\n%s", m.HTML)
	}
	if strings.Count(m.Text, "lki_") != 1 {
		t.Errorf("mail repeats the token:\n%s", m.Text)
	}
	return link
}

// TestInvitationMailedByAPI: POST /v1/orgs/{id}/invitations with an email
// mails the link there once (mailed=true), and the mailed link joins;
// without an email nothing is mailed (mailed=false).
func TestInvitationMailedByAPI(t *testing.T) {
	mailer := smtptest.Start(t, "", "")
	s, p, f := invitationMailServer(t, mailer.URL())
	admin, outsider := p.byRole["admin"], p.byRole["non-member"]
	base := "/v1/orgs/" + f.org + "/invitations"

	status, body := f.call(t, admin, "POST", base, `{"role":"viewer","email":"guest@example.com"}`)
	if status != http.StatusCreated || body["mailed"] != true {
		t.Fatalf("create: %d %v, want 201 mailed=true", status, body)
	}
	if mailer.Pending() != 1 {
		t.Fatalf("%d mails, want 1", mailer.Pending())
	}
	link := checkInvitationMail(t, s, mailer.Next(t, 5*time.Second), "guest@example.com", admin.user.Username, "viewer")
	if link != body["url"] {
		t.Errorf("mailed link %q, answer's url %v", link, body["url"])
	}
	token := strings.TrimPrefix(link, s.URL+"/invitations/")
	status, body = f.call(t, outsider, "POST", "/v1/invitations/accept", `{"token":"`+token+`"}`)
	if status != http.StatusOK || body["id"] != f.org || body["role"] != "viewer" {
		t.Fatalf("accept the mailed link: %d %v", status, body)
	}

	status, body = f.call(t, admin, "POST", base, `{"role":"member"}`)
	if status != http.StatusCreated || body["mailed"] != false {
		t.Errorf("create without email: %d %v, want 201 mailed=false", status, body)
	}
	if mailer.Pending() != 0 {
		t.Errorf("%d mails for an invitation without email, want 0", mailer.Pending())
	}
}

// TestInvitationMailedByPage: the members page's form mails the link to
// the address once and says so; the mailed link opens the invitation page
// and accepting it joins.
func TestInvitationMailedByPage(t *testing.T) {
	mailer := smtptest.Start(t, "", "")
	s, p, f := invitationMailServer(t, mailer.URL())
	owner, outsider := p.byRole["owner"], p.byRole["non-member"]
	members := s.URL + "/orgs/" + f.org + "/members"

	invite := func(email string) string {
		t.Helper()
		_, page := get(t, owner.browser, members)
		resp, body := postForm(t, owner.browser, s.URL+"/orgs/"+f.org+"/invitations",
			url.Values{"csrf_token": {formValue(t, flowtest.CSRFRe, page)}, "role": {"admin"}, "email": {email}}, s.URL)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("invite %q: %d\n%s", email, resp.StatusCode, body)
		}
		return body
	}
	body := invite("page-guest@example.com")
	if !strings.Contains(body, "The link was also mailed to page-guest@example.com.") {
		t.Errorf("page does not say the link was mailed:\n%s", body)
	}
	if mailer.Pending() != 1 {
		t.Fatalf("%d mails, want 1", mailer.Pending())
	}
	link := checkInvitationMail(t, s, mailer.Next(t, 5*time.Second), "page-guest@example.com", owner.user.Username, "admin")
	if !strings.Contains(body, `value="`+link+`"`) {
		t.Errorf("the page shows another link than the mail's %s", link)
	}
	resp, page := get(t, outsider.browser, link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Mail &amp; Co") {
		t.Fatalf("open the mailed link: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = postForm(t, outsider.browser, link, url.Values{"csrf_token": {formValue(t, flowtest.CSRFRe, page)}}, s.URL)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept the mailed link: %d", resp.StatusCode)
	}
	if v, err := s.App.DB().GetMembership(t.Context(), f.org, outsider.user.ID); err != nil || v.Role != "admin" {
		t.Fatalf("not a member after accepting: %+v %v", v, err)
	}

	body = invite("")
	if strings.Contains(body, "also mailed") || mailer.Pending() != 0 {
		t.Errorf("an invitation without email was mailed (%d) or said so", mailer.Pending())
	}
}

// TestInvitationMailFailureStillCreates: a mail server that cannot be
// reached does not fail the invitation: 201 with the link and
// mailed=false, on the API and the page.
func TestInvitationMailFailureStillCreates(t *testing.T) {
	s, p, f := invitationMailServer(t, "smtp://127.0.0.1:1?tls=none")
	admin := p.byRole["admin"]
	status, body := f.call(t, admin, "POST", "/v1/orgs/"+f.org+"/invitations", `{"role":"member","email":"lost@example.com"}`)
	if status != http.StatusCreated || body["mailed"] != false || !strings.HasPrefix(body["token"].(string), "lki_") {
		t.Fatalf("create with a failing mail server: %d %v, want 201 mailed=false with the token", status, body)
	}
	_, page := get(t, admin.browser, s.URL+"/orgs/"+f.org+"/members")
	resp, out := postForm(t, admin.browser, s.URL+"/orgs/"+f.org+"/invitations",
		url.Values{"csrf_token": {formValue(t, flowtest.CSRFRe, page)}, "role": {"member"}, "email": {"lost@example.com"}}, s.URL)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(out, s.URL+"/invitations/lki_") || strings.Contains(out, "also mailed") {
		t.Errorf("page with a failing mail server: %d\n%s", resp.StatusCode, out)
	}
}
