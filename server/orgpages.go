package server

import "github.com/gin-gonic/gin"

// OrgPages are the organization pages the server mounts (SPEC §3.3a):
// /orgs and each organization's overview, members and invitations,
// tenants and grants, keys, apps, audit log, and the invitation page a link opens.
type OrgPages interface {
	OrgsPage(c *gin.Context)
	CreateOrgForm(c *gin.Context)
	OrgPage(c *gin.Context)
	RenameOrgForm(c *gin.Context)
	DeleteOrgForm(c *gin.Context)
	LeaveOrgForm(c *gin.Context)
	MembersPage(c *gin.Context)
	SetRoleForm(c *gin.Context)
	RemoveMemberForm(c *gin.Context)
	TransferForm(c *gin.Context)
	InviteForm(c *gin.Context)
	CancelInvitationForm(c *gin.Context)
	TenantsPage(c *gin.Context)
	CreateTenantForm(c *gin.Context)
	TenantPage(c *gin.Context)
	RenameTenantForm(c *gin.Context)
	DeleteTenantForm(c *gin.Context)
	GrantForm(c *gin.Context)
	RevokeGrantForm(c *gin.Context)
	AuditPage(c *gin.Context)
	OrgKeysPage(c *gin.Context)
	CreateOrgKeyForm(c *gin.Context)
	RevokeOrgKeyForm(c *gin.Context)
	OrgAppsPage(c *gin.Context)
	InvitationPage(c *gin.Context)
	AcceptInvitationForm(c *gin.Context)
}

// mountOrgPages adds the organization pages: pages is the CSRF-checked
// group, user the part of it for a signed-in person. The invitation page
// is open to anyone holding the link (a signed-out person is offered
// sign-in and sign-up coming back to it); accepting needs a session.
func mountOrgPages(pages, user *gin.RouterGroup, p Pages) {
	user.GET("/orgs", p.OrgsPage)
	user.POST("/orgs", p.CreateOrgForm)
	user.GET("/orgs/:id", p.OrgPage)
	user.POST("/orgs/:id/rename", p.RenameOrgForm)
	user.POST("/orgs/:id/delete", p.DeleteOrgForm)
	user.POST("/orgs/:id/leave", p.LeaveOrgForm)
	user.GET("/orgs/:id/members", p.MembersPage)
	user.POST("/orgs/:id/members/:user/role", p.SetRoleForm)
	user.POST("/orgs/:id/members/:user/remove", p.RemoveMemberForm)
	user.POST("/orgs/:id/transfer", p.TransferForm)
	user.POST("/orgs/:id/invitations", p.InviteForm)
	user.POST("/orgs/:id/invitations/:inv/cancel", p.CancelInvitationForm)
	user.GET("/orgs/:id/tenants", p.TenantsPage)
	user.POST("/orgs/:id/tenants", p.CreateTenantForm)
	user.GET("/orgs/:id/tenants/:tid", p.TenantPage)
	user.POST("/orgs/:id/tenants/:tid/rename", p.RenameTenantForm)
	user.POST("/orgs/:id/tenants/:tid/delete", p.DeleteTenantForm)
	user.POST("/orgs/:id/tenants/:tid/grants", p.GrantForm)
	user.POST("/orgs/:id/tenants/:tid/grants/:user/revoke", p.RevokeGrantForm)
	user.GET("/orgs/:id/audit", p.AuditPage)
	user.GET("/orgs/:id/keys", p.OrgKeysPage)
	user.POST("/orgs/:id/keys", p.CreateOrgKeyForm)
	user.POST("/orgs/:id/keys/:key/revoke", p.RevokeOrgKeyForm)
	user.GET("/orgs/:id/apps", p.OrgAppsPage)
	pages.GET("/invitations/:token", p.InvitationPage)
	pages.POST("/invitations/:token", p.AcceptInvitationForm)
}
