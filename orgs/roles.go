// Package orgs gives organizations, tenants and roles their meaning (SPEC
// §3.3a): who may do what in an organization (the one permission table,
// Check), which tenants a person, a personal API key, a workspace key or
// an organization-bound OAuth token reaches at each request (Rights,
// with caches kept coherent across instances by storage invalidations),
// and the management operations the JSON API and the pages share
// (Service). It sits beside package keys and imports only storage.
package orgs

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; check them with errors.Is.
var (
	// ErrNotFound means the organization, tenant, member, invitation or key
	// does not exist or is not visible to the caller (objects of another
	// organization are reported exactly like missing ones).
	ErrNotFound = errors.New("orgs: not found")
	// ErrForbidden means the caller's role (or tenant access) is too low;
	// the error is a *RoleError naming what is needed.
	ErrForbidden = errors.New("orgs: forbidden")
	// ErrInvalid is matched by every request problem; each is a *FieldError.
	ErrInvalid = errors.New("orgs: invalid request")
	// ErrConflict means a name is taken, the person is already a member,
	// or the organization still owns apps.
	ErrConflict = errors.New("orgs: conflict")
	// ErrLastOwner means the change would leave the organization without
	// an owner. It matches ErrConflict too.
	ErrLastOwner = fmt.Errorf("orgs: an organization needs at least one owner: %w", ErrConflict)
	// ErrGone means an invitation was already used or has expired.
	ErrGone = errors.New("orgs: invitation used or expired")
	// ErrSuspended means the organization or the user is suspended by an
	// instance administrator: every key and token of it is refused.
	ErrSuspended = errors.New("orgs: suspended")
	// ErrNotMember means a personal key's or token's owner is no longer a
	// member of the organization the credential is bound to.
	ErrNotMember = errors.New("orgs: the owner is no longer a member")
)

// Role is a person's role in an organization.
type Role string

// The roles, from most to least powerful.
const (
	Owner  Role = "owner"
	Admin  Role = "admin"
	Member Role = "member"
	// Viewer reads everything in the organization (every tenant,
	// read-only) and changes nothing but their own keys: auditors,
	// dashboards, support staff.
	Viewer Role = "viewer"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{Owner, Admin, Member, Viewer}

func (r Role) rank() int {
	switch r {
	case Owner:
		return 4
	case Admin:
		return 3
	case Member:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// AtLeast reports whether r is o or more powerful.
func (r Role) AtLeast(o Role) bool { return r.rank() >= o.rank() && r.rank() > 0 }

// IsAdmin reports whether r administers the organization (owner or admin).
func (r Role) IsAdmin() bool { return r.AtLeast(Admin) }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.rank() == 0 {
		return "", invalid("role", "role must be one of owner, admin, member, viewer")
	}
	return r, nil
}

// Access is what a credential may do in one tenant.
type Access string

// Tenant access levels. Owner is the personal workspace's own level (the
// one tenant of a person outside organizations); it allows writing.
const (
	ReadOnly  Access = "read-only"
	ReadWrite Access = "read-write"
	OwnerAll  Access = "owner"
)

// ParseAccess returns the tenant access named s.
func ParseAccess(s string) (Access, error) {
	switch a := Access(strings.ToLower(strings.TrimSpace(s))); a {
	case ReadOnly, ReadWrite:
		return a, nil
	}
	return "", invalid("role", `tenant role must be "read-only" or "read-write"`)
}

// CanWrite reports whether a allows writing.
func (a Access) CanWrite() bool { return a == ReadWrite || a == OwnerAll }

// Allows reports whether a allows permission: "read" or "write".
func (a Access) Allows(permission string) bool {
	switch permission {
	case "read":
		return a == ReadOnly || a.CanWrite()
	case "write":
		return a.CanWrite()
	}
	return false
}

// min returns the weaker of a and b.
func minAccess(a, b Access) Access {
	if !a.CanWrite() || !b.CanWrite() {
		return ReadOnly
	}
	return a
}

// FieldError is a request problem in one field; it matches ErrInvalid.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return ErrInvalid.Error() + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}

// RoleError is a refusal for a role that is too low: Need is the least
// role (or "read-write" tenant access) the action requires. It matches
// ErrForbidden.
type RoleError struct {
	Need string
	// Tenant is set when the refusal is about access to one tenant.
	Tenant string
}

// Error states the documented 403 message.
func (e *RoleError) Error() string {
	if e.Tenant != "" {
		return fmt.Sprintf("This action needs %s access to tenant %s.", e.Need, e.Tenant)
	}
	return fmt.Sprintf("This action needs the %s role in this organization.", e.Need)
}

// Unwrap makes errors.Is(err, ErrForbidden) hold.
func (e *RoleError) Unwrap() error { return ErrForbidden }
