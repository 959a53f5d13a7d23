package storage

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// Topic names the kind of record an Invalidation is about.
type Topic string

// The records Latchkey caches in process, and so must invalidate.
const (
	// TopicUser: ID is a user id (the user read cache: sessions_not_before).
	TopicUser Topic = "user"
	// TopicClient: ID is a client id (the client read cache: secret, redirect URIs).
	TopicClient Topic = "client"
	// TopicAPIKey: ID is a key's HMAC digest in lower-case hex (the
	// API-key verification cache in package keys).
	TopicAPIKey Topic = "key"
	// TopicSigningKey: ID is a signing key's kid (the key ring of package
	// oauth: a rotation reaches every instance at once).
	TopicSigningKey Topic = "signing_key"
	// TopicToken: access tokens were deleted or deactivated (the
	// access-token cache in package oauth). ID is TokenBySignature (one
	// token), TokenByGrant (every access token of one grant) or TokenAll
	// (a bulk revocation: a client, a person, a grant of a person).
	TopicToken Topic = "token"
)

// TokenAll is the TopicToken id that names every access token.
const TokenAll = "*"

// TokenBySignature is the TopicToken id of the access token stored under
// signature.
func TokenBySignature(signature string) string { return "s:" + signature }

// TokenByGrant is the TopicToken id of every access token of the grant
// requestID.
func TokenByGrant(requestID string) string { return "g:" + requestID }

// Invalidation says that cached copies of one record are stale.
type Invalidation struct {
	Topic Topic
	ID    string
}

// Known reports whether t is a topic this version publishes. A bus that
// receives an invalidation with an unknown topic (from a newer instance)
// must flush every cache: something changed and it cannot tell what.
func (t Topic) Known() bool {
	switch t {
	case TopicUser, TopicClient, TopicAPIKey, TopicOrg, TopicMember, TopicSigningKey, TopicToken:
		return true
	}
	return false
}

// String writes the invalidation as "<topic>:<id>", the form the buses
// carry (ids are at most 64 bytes).
func (inv Invalidation) String() string { return string(inv.Topic) + ":" + inv.ID }

// ParseInvalidation reads what Invalidation.String wrote; ok is false for
// an unknown topic, an empty id or anything else.
func ParseInvalidation(s string) (inv Invalidation, ok bool) {
	topic, id, found := strings.Cut(s, ":")
	if !found || id == "" || !Topic(topic).Known() {
		return Invalidation{}, false
	}
	return Invalidation{Topic: Topic(topic), ID: id}, true
}

// Publisher tells every instance sharing the database that a record
// changed. It runs inside the writing transaction tx, so the message is
// delivered when, and only if, that transaction commits (PostgreSQL
// NOTIFY); an error fails the write.
type Publisher func(tx *gorm.DB, inv Invalidation) error

// WithPublisher makes every write that must invalidate caches (API key
// update, revoke and rotation; logout; client update and deletion; access
// tokens deleted or deactivated) also
// publish it to the other instances. Without one, only this process's
// caches are invalidated, and other instances see the change when their
// entries expire.
func WithPublisher(p Publisher) Option { return func(d *DB) { d.publish = p } }

// Invalidate drops this process's cached copy of the record, if it keeps
// one (users and clients; API keys are cached by package keys). The
// cross-instance listener calls it for every published invalidation.
func (d *DB) Invalidate(inv Invalidation) {
	switch inv.Topic {
	case TopicUser:
		d.users.Invalidate(inv.ID)
	case TopicClient:
		d.clients.Invalidate(inv.ID)
	}
}

// SetListening tells the read caches whether invalidations from other
// instances are arriving. While they may be lost (false) every entry is
// dropped and the caches are bypassed, so a missed message can never make
// a stale record outlive the outage; true lets them fill again.
func (d *DB) SetListening(ok bool) {
	d.users.SetBypass(!ok)
	d.clients.SetBypass(!ok)
}

// accessTokensGone publishes (TopicToken, id) when kind is KindAccess and
// n > 0 rows were deleted or deactivated: a cached copy of those tokens
// must stop answering as active.
func (d *DB) accessTokensGone(ctx context.Context, kind Kind, n int64, id string) error {
	if kind != KindAccess || n == 0 {
		return nil
	}
	return d.changed(ctx, Invalidation{Topic: TopicToken, ID: id})
}

// changed records, inside the transaction of ctx, that the record named by
// inv was written: it is published to the other instances (delivered at
// commit) and dropped from this process's caches after the commit, so no
// reader can re-cache the old row in between.
func (d *DB) changed(ctx context.Context, inv Invalidation) error {
	if d.publish != nil {
		if err := d.publish(d.w(ctx), inv); err != nil {
			return translate(err)
		}
	}
	afterCommit(ctx, func() {
		d.Invalidate(inv)
		if fns := d.onChange.Load(); fns != nil {
			for _, fn := range *fns {
				fn(inv)
			}
		}
	})
	return nil
}

// OnChange registers fn to hear, in this process and after the commit,
// every invalidation that this DB's own writes publish. The API-key
// verification cache (package keys) uses it, so keys a storage-level
// cascade revoked (RevokeGrants, DeleteClient, RevokeAPIKeysByParent) are
// refused by this instance from the next request on, also on SQLite where
// no bus carries invalidations. Other instances still learn of the change
// through the Publisher. fn must be quick and must not write.
func (d *DB) OnChange(fn func(Invalidation)) {
	for {
		old := d.onChange.Load()
		var fns []func(Invalidation)
		if old != nil {
			fns = append(fns, *old...)
		}
		fns = append(fns, fn)
		if d.onChange.CompareAndSwap(old, &fns) {
			return
		}
	}
}

// Subscriber is an in-process cache kept coherent with the other instances
// sharing the database by an invalidation bus (the PostgreSQL listener):
// *DB's read caches and the key-verification cache.
type Subscriber interface {
	// Invalidate drops the cached copy of one record.
	Invalidate(inv Invalidation)
	// SetListening reports whether invalidations are arriving. On false
	// the subscriber drops every entry and bypasses its cache until true,
	// because an invalidation sent meanwhile may be lost.
	SetListening(ok bool)
}

// Bus delivers the cache invalidations every instance sharing the database
// publishes (the PostgreSQL listener) to this instance's Subscribers.
// Until it connects, its subscribers bypass their caches.
type Bus interface {
	// Subscribe adds s, telling it at once whether the bus is connected.
	Subscribe(s Subscriber)
	// Run delivers invalidations until ctx is done.
	Run(ctx context.Context)
}
