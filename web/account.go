package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/storage"
)

// pageTime is a moment as templates show it: words for people and an
// RFC 3339 value for the <time datetime> attribute; the "when" template
// function (pageFuncs) takes it whole.
type pageTime struct {
	Text string
	ISO  string
	At   time.Time
}

func newPageTime(t time.Time) pageTime {
	if t.IsZero() {
		return pageTime{}
	}
	t = t.UTC()
	return pageTime{Text: t.Format(absoluteLayout), ISO: t.Format(time.RFC3339), At: t}
}

type accountPage struct {
	ID       string
	Username string
	Email    string
	Name     string
	Created  pageTime
	Tenants  []storage.Workspace
}

// Account serves GET /account: the signed-in person's profile and tenants.
func (h *Handler) Account(c *gin.Context) {
	u := signedInUser(c)
	page := accountPage{
		ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name,
		Created: newPageTime(u.CreatedAt),
		Tenants: []storage.Workspace{storage.PersonalWorkspace(u)},
	}
	h.render(c.Writer, c.Request, http.StatusOK, "account", "Account", u, page)
}
