package orgs

// Action is something a member may do in an organization. The table below
// is the one home of who may do what; the README's permission matrix
// documents it and the server's matrix test checks every cell over HTTP.
type Action string

// Organization actions.
const (
	ViewOrg           Action = "org.view"
	RenameOrg         Action = "org.rename"
	DeleteOrg         Action = "org.delete"
	TransferOwnership Action = "org.transfer"
	ViewAudit         Action = "org.audit"

	ListMembers      Action = "members.list"
	InviteMember     Action = "members.invite"
	ChangeRole       Action = "members.role"
	RemoveMember     Action = "members.remove"
	ListInvitations  Action = "invitations.list"
	CancelInvitation Action = "invitations.cancel"

	ListTenants  Action = "tenants.list"
	CreateTenant Action = "tenants.create"
	RenameTenant Action = "tenants.rename"
	DeleteTenant Action = "tenants.delete"
	GrantTenant  Action = "tenants.grant"

	ListAllKeys        Action = "keys.list_all"
	CreatePersonalKey  Action = "keys.create_personal"
	RevokeOthersKey    Action = "keys.revoke_others"
	ManageWorkspaceKey Action = "keys.manage_workspace" // also: read-write access to the key's tenant

	ListAllApps      Action = "apps.list_all"
	CreateApp        Action = "apps.create"
	ManageOthersApps Action = "apps.manage_others"
)

// minRole is the least role each action needs.
var minRole = map[Action]Role{
	ViewOrg:           Viewer,
	RenameOrg:         Admin,
	DeleteOrg:         Owner,
	TransferOwnership: Owner,
	ViewAudit:         Admin,

	ListMembers:      Viewer,
	InviteMember:     Admin,
	ChangeRole:       Admin,
	RemoveMember:     Admin,
	ListInvitations:  Admin,
	CancelInvitation: Admin,

	ListTenants:  Viewer,
	CreateTenant: Admin,
	RenameTenant: Admin,
	DeleteTenant: Admin,
	GrantTenant:  Admin,

	ListAllKeys:        Admin,
	CreatePersonalKey:  Viewer,
	RevokeOthersKey:    Admin,
	ManageWorkspaceKey: Admin,

	ListAllApps:      Admin,
	CreateApp:        Member,
	ManageOthersApps: Admin,
}

// Actions lists every action, in the table's order of declaration.
var Actions = []Action{
	ViewOrg, RenameOrg, DeleteOrg, TransferOwnership, ViewAudit,
	ListMembers, InviteMember, ChangeRole, RemoveMember, ListInvitations, CancelInvitation,
	ListTenants, CreateTenant, RenameTenant, DeleteTenant, GrantTenant,
	ListAllKeys, CreatePersonalKey, RevokeOthersKey, ManageWorkspaceKey,
	ListAllApps, CreateApp, ManageOthersApps,
}

// MinRole returns the least role action needs ("" for an unknown action,
// which nobody may do).
func MinRole(a Action) Role { return minRole[a] }

// Check returns nil when role may do action, else a *RoleError.
func Check(role Role, a Action) error {
	need, ok := minRole[a]
	if !ok {
		return &RoleError{Need: string(Owner)}
	}
	if !role.AtLeast(need) {
		return &RoleError{Need: string(need)}
	}
	return nil
}

// CheckRoleChange applies the rules about owners on top of the table: an
// admin may set the roles admin, member and viewer of members who are not
// owners; making, unmaking or inviting an owner needs an owner.
func CheckRoleChange(actor, from, to Role) error {
	if err := Check(actor, ChangeRole); err != nil {
		return err
	}
	if (from == Owner || to == Owner) && actor != Owner {
		return &RoleError{Need: string(Owner)}
	}
	return nil
}

// CheckRemove applies the owner rule to removing a member: only an owner
// removes an owner.
func CheckRemove(actor, target Role) error {
	if err := Check(actor, RemoveMember); err != nil {
		return err
	}
	if target == Owner && actor != Owner {
		return &RoleError{Need: string(Owner)}
	}
	return nil
}

// CheckInvite applies the owner rule to invitations: only an owner
// invites an owner.
func CheckInvite(actor, role Role) error {
	if err := Check(actor, InviteMember); err != nil {
		return err
	}
	if role == Owner && actor != Owner {
		return &RoleError{Need: string(Owner)}
	}
	return nil
}

// CheckWorkspaceKey reports whether a member with role and access to the
// key's tenant may create, rotate or revoke its workspace keys: the
// organization's admins, and members with read-write access to the tenant.
func CheckWorkspaceKey(role Role, access Access, tenantID string) error {
	if Check(role, ManageWorkspaceKey) == nil || (role.AtLeast(Member) && access.CanWrite()) {
		return nil
	}
	return &RoleError{Need: string(ReadWrite), Tenant: tenantID}
}
