package storage

import (
	"context"
	"encoding/hex"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UserDeletion is what DeleteUser removed that other packages must hear
// of once it has committed.
type UserDeletion struct {
	// GrantedClients are the clients the person had granted access (a
	// consent or a token), whose grants were revoked: each is owed a
	// back-channel logout ("Revoke access" on /authorized).
	GrantedClients []string
	// OwnedClients are the clients the person owned, deleted with their
	// codes, tokens and consents of every user.
	OwnedClients []string
	// Keys is how many API keys were deleted (revoked first).
	Keys int
}

// DeleteUser removes the user with userID and everything that is theirs,
// in one transaction that first locks the user row (SELECT … FOR UPDATE
// on PostgreSQL; SQLite's one writer serialises transactions):
//
//   - every API key is revoked with its lineage and the tokens exchanged
//     from it (as RevokeAPIKeysByParent), then deleted; its handle and
//     alias go, its audit log (key events) keeps the key id, type and
//     time but loses the user id, IP address and detail;
//   - every grant the person gave is revoked (RevokeGrants for each
//     client), then every code, token and consent of theirs is deleted;
//   - every client they own is deleted (DeleteClient: the codes, tokens
//     and consents of every user for it, and keys it created);
//   - every other row of any table in Models with a user_id column
//     (email tokens, browser sessions, and tables added later such as
//     second factors) is deleted, except the session-client records,
//     which back-channel logout takes once the deletion is known (the
//     janitor purges whatever it leaves);
//   - the user row goes, so the username is free again.
//
// Concurrent writers: CreateAPIKey and SaveConsent hold the user row
// (holdUser), so a key or consent written while the deletion runs is
// either swept with it or refused with ErrNotFound. After the commit the
// sweep runs once more, without the user row, for rows no such check
// guards (a token issued by a code exchange that raced the deletion).
// ErrNotFound when the user does not exist.
func (d *DB) DeleteUser(ctx context.Context, userID string) (*UserDeletion, error) {
	var out UserDeletion
	err := d.InTx(ctx, func(ctx context.Context) error {
		var u User
		w := d.w(ctx)
		if err := w.Clauses(lockForUpdate(w)...).Where("id = ?", userID).Take(&u).Error; err != nil {
			return fmt.Errorf("user %q: %w", userID, translate(err))
		}
		orgs, err := d.leaveAllOrgs(ctx, userID)
		if err != nil {
			return err
		}
		got, err := d.sweepUser(ctx, userID)
		if err != nil {
			return err
		}
		out = *got
		for _, o := range orgs {
			if err := d.memberChanged(ctx, o, userID); err != nil {
				return err
			}
		}
		if err := d.w(ctx).Where("id = ?", userID).Delete(&User{}).Error; err != nil {
			return translate(err)
		}
		return d.changed(ctx, Invalidation{Topic: TopicUser, ID: userID})
	})
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	if tx(ctx) != nil {
		return &out, nil // the caller's transaction sweeps once; it owns the commit
	}
	late, err := d.sweepUser(ctx, userID)
	if err != nil {
		return &out, fmt.Errorf("delete user: second sweep: %w", err)
	}
	out.GrantedClients = append(out.GrantedClients, late.GrantedClients...)
	out.OwnedClients = append(out.OwnedClients, late.OwnedClients...)
	out.Keys += late.Keys
	return &out, nil
}

// leaveAllOrgs checks, inside the deletion's transaction, that userID is
// not the last owner of any organization (ErrLastOwner: ownership must be
// transferred or the organization deleted first) and returns the
// organizations they belong to; the sweep deletes the memberships and
// grants with the user's other rows. Workspace keys they made stay with
// their tenants.
func (d *DB) leaveAllOrgs(ctx context.Context, userID string) ([]string, error) {
	var ms []Membership
	if err := d.w(ctx).Where("user_id = ?", userID).Order("org_id").Find(&ms).Error; err != nil {
		return nil, translate(err)
	}
	orgs := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.Role == "owner" {
			if err := d.holdOrg(ctx, m.OrgID); err != nil {
				return nil, err
			}
			n, err := d.otherOwners(ctx, m.OrgID, userID)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, fmt.Errorf("user %q owns organization %q alone: %w", userID, m.OrgID, ErrLastOwner)
			}
		}
		orgs = append(orgs, m.OrgID)
	}
	return orgs, nil
}

// sweepUser removes what belongs to userID (see DeleteUser) in one
// transaction, the user row aside.
func (d *DB) sweepUser(ctx context.Context, userID string) (*UserDeletion, error) {
	var out UserDeletion
	err := d.InTx(ctx, func(ctx context.Context) error {
		out = UserDeletion{}
		n, err := d.deleteUserKeys(ctx, userID)
		if err != nil {
			return err
		}
		out.Keys = n
		if out.GrantedClients, err = d.revokeUserGrants(ctx, userID); err != nil {
			return err
		}
		var owned []string
		// An organization's apps are the organization's: they stay.
		if err := d.w(ctx).Model(&Client{}).Where("owner_id = ? AND (org_id IS NULL OR org_id = '')", userID).Order("id").Pluck("id", &owned).Error; err != nil {
			return translate(err)
		}
		for _, id := range owned {
			if err := d.DeleteClient(ctx, id); err != nil {
				return err
			}
		}
		out.OwnedClients = owned
		if err := d.w(ctx).Model(&KeyEvent{}).Where("user_id = ?", userID).
			Updates(map[string]any{"user_id": "", "ip": "", "detail": ""}).Error; err != nil {
			return translate(err)
		}
		return d.deleteUserRows(ctx, userID)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// deleteUserKeys revokes the user's working keys with their lineage and
// exchanged tokens, then deletes every key of the user, publishing an
// invalidation for each so no instance's cache still accepts one.
func (d *DB) deleteUserKeys(ctx context.Context, userID string) (int, error) {
	w := d.w(ctx)
	var live []APIKey
	if err := w.Clauses(lockForUpdate(w)...).Where("user_id = ? AND revoked_at IS NULL", userID).Order("id").Find(&live).Error; err != nil {
		return 0, translate(err)
	}
	if _, err := d.revokeKeyLevels(ctx, live); err != nil {
		return 0, err
	}
	var all []APIKey
	if err := d.w(ctx).Select("id", "digest").Where("user_id = ?", userID).Find(&all).Error; err != nil {
		return 0, translate(err)
	}
	if err := d.w(ctx).Where("user_id = ?", userID).Delete(&APIKey{}).Error; err != nil {
		return 0, translate(err)
	}
	for _, k := range all {
		if err := d.changed(ctx, Invalidation{Topic: TopicAPIKey, ID: hex.EncodeToString(k.Digest)}); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// revokeUserGrants revokes every grant subject gave (RevokeGrants per
// client: codes end, tokens go, keys the grants created are revoked) and
// deletes the rest of their requests and their consents; it returns the
// clients concerned.
func (d *DB) revokeUserGrants(ctx context.Context, subject string) ([]string, error) {
	var fromTokens, fromConsents []string
	if err := d.w(ctx).Model(&Request{}).Distinct("client_id").Where("subject = ?", subject).Pluck("client_id", &fromTokens).Error; err != nil {
		return nil, translate(err)
	}
	if err := d.w(ctx).Model(&Consent{}).Where("user_id = ?", subject).Pluck("client_id", &fromConsents).Error; err != nil {
		return nil, translate(err)
	}
	seen := map[string]bool{}
	var clients []string
	for _, id := range append(fromConsents, fromTokens...) {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		clients = append(clients, id)
		if err := d.RevokeGrants(ctx, subject, id); err != nil {
			return nil, err
		}
	}
	res := d.w(ctx).Where("subject = ?", subject).Delete(&Request{})
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if err := d.accessTokensGone(ctx, KindAccess, res.RowsAffected, TokenAll); err != nil {
		return nil, err
	}
	return clients, nil
}

// keptOnUserDeletion names the tables DeleteUser does not empty of the
// user's rows generically: the user row itself, the audit log (made
// anonymous instead) and the session-client records (taken by
// back-channel logout).
var keptOnUserDeletion = map[string]bool{"users": true, "key_events": true, "session_clients": true}

// deleteUserRows deletes the user's rows from every table of Models that
// has a user_id column, except keptOnUserDeletion: a table added later
// (second factors, say) is emptied of the person without naming it here.
func (d *DB) deleteUserRows(ctx context.Context, userID string) error {
	w := d.w(ctx)
	for _, m := range Models() {
		stmt := &gorm.Statement{DB: w}
		if err := stmt.Parse(m); err != nil {
			return fmt.Errorf("parse %T: %w", m, err)
		}
		if keptOnUserDeletion[stmt.Schema.Table] || stmt.Schema.LookUpField("user_id") == nil {
			continue
		}
		if err := d.w(ctx).Where("user_id = ?", userID).Delete(m).Error; err != nil {
			return fmt.Errorf("delete %s rows: %w", stmt.Schema.Table, translate(err))
		}
	}
	return nil
}

// holdUser makes sure the user with userID exists until ctx's transaction
// ends: on PostgreSQL it takes a KEY SHARE lock on the user row, so
// DeleteUser's FOR UPDATE waits for the writer (and then sweeps what it
// wrote), or the writer waits for DeleteUser and then finds no row;
// SQLite's one writer serialises the transactions. A key or consent for a
// user that does not exist, or was deleted meanwhile, is refused with
// ErrNotFound, so nothing written while DeleteUser runs survives it.
func (d *DB) holdUser(ctx context.Context, userID string) error {
	w := d.w(ctx)
	q := w.Model(&User{}).Where("id = ?", userID)
	if w.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "KEY SHARE"})
	}
	var ids []string
	if err := q.Limit(1).Pluck("id", &ids).Error; err != nil {
		return translate(err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	return nil
}
