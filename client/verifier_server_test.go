package client_test

// client.Verifier against a real Latchkey server (internal/servertest):
// the organization fields of a workspace key and a personal organization
// key, and a removed member's key refused once the Verifier's cache ends.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

func TestVerifierOrganizationsAgainstServer(t *testing.T) {
	t.Parallel()
	s := servertest.New(t)
	ctx := context.Background()
	db := s.App.DB()
	alice := s.CreateUser(t, "alice", "correct horse battery")
	bob := s.CreateUser(t, "bob", "correct horse battery")
	// Writes through the server's store reach its rights caches at once.
	svc := orgs.New(orgs.Config{Logger: slog.New(slog.DiscardHandler)}, db)
	acme, err := svc.Create(ctx, orgs.Actor{UserID: alice.ID}, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	videos, err := svc.CreateTenant(ctx, orgs.Actor{UserID: alice.ID}, acme.ID, "Videos")
	if err != nil {
		t.Fatal(err)
	}
	billing, err := svc.CreateTenant(ctx, orgs.Actor{UserID: alice.ID}, acme.ID, "Billing")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, &storage.Membership{OrgID: acme.ID, UserID: bob.ID, Role: "member"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Grant(ctx, orgs.Actor{UserID: alice.ID}, acme.ID, videos.ID, bob.ID, orgs.ReadWrite); err != nil {
		t.Fatal(err)
	}
	// Keys are made as people make them (POST /user/keys), then bound to
	// the organization in storage.
	newKey := func(user, handle string, scopes []string, bind func(*storage.APIKey)) string {
		t.Helper()
		code, out, _ := flowtest.APICall(t, http.MethodPost, s.URL+"/user/keys", flowtest.BasicHeader(user, "correct horse battery"),
			`{"handle":"`+handle+`","scopes":["`+scopes[0]+`"]}`)
		if code != http.StatusCreated {
			t.Fatalf("create key: %d %v", code, out)
		}
		if err := db.UpdateAPIKey(ctx, out["id"].(string), func(k *storage.APIKey) error { bind(k); return nil }); err != nil {
			t.Fatal(err)
		}
		return out["key"].(string)
	}
	workspace := newKey("alice", "ws", []string{"keys:write"}, func(k *storage.APIKey) {
		k.UserID, k.OrgID, k.TenantID, k.CreatedBy = videos.ID, acme.ID, videos.ID, alice.ID
	})
	bobKey := newKey("bob", "acme", []string{"users:read"}, func(k *storage.APIKey) { k.OrgID = acme.ID })

	id, secretValue := s.CreateClient(t, oauth.ClientSpec{Name: "Videos API", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"keys:verify"}, ResourceServer: true})
	v := client.NewVerifier(s.URL, id, secretValue, client.WithCacheTTL(300*time.Millisecond))

	t.Run("workspace key", func(t *testing.T) {
		got, err := v.Verify(ctx, workspace)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyKind != client.KeyKindWorkspace || got.Organization == nil || got.Organization.ID != acme.ID || got.Organization.Name != "Acme" || got.Organization.Role != "" {
			t.Fatalf("identity %+v org %+v", got, got.Organization)
		}
		if !got.CanAccessTenant(videos.ID, client.PermissionWrite) || got.CanAccessTenant(billing.ID, client.PermissionRead) || len(got.Tenants) != 1 {
			t.Errorf("tenants %+v", got.Tenants)
		}
	})
	t.Run("personal organization key of a member", func(t *testing.T) {
		got, err := v.Verify(ctx, bobKey)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyKind != client.KeyKindPersonal || got.Organization == nil || got.Organization.Role != "member" || got.Subject != bob.ID {
			t.Fatalf("identity %+v org %+v", got, got.Organization)
		}
		// A read-only key: read in the granted tenant, never write, nothing elsewhere.
		if !got.CanAccessTenant(videos.ID, client.PermissionRead) || got.CanAccessTenant(videos.ID, client.PermissionWrite) ||
			got.CanAccessTenant(billing.ID, client.PermissionRead) {
			t.Errorf("tenants %+v", got.Tenants)
		}
		_, res, err := v.VerifyWithCheck(ctx, bobKey, client.Check{Tenant: videos.ID, TenantPermission: "write"})
		if err != nil || res.Passed || res.TenantPassed == nil || *res.TenantPassed {
			t.Errorf("write check: %+v %v, want a failed tenant part", res, err)
		}
		_, res, err = v.VerifyWithCheck(ctx, bobKey, client.Check{Permissions: "users:read AND (billing:read OR org:admin)"})
		if err != nil || res.Passed || res.Failed != "billing:read OR org:admin" {
			t.Errorf("permissions check: %+v %v", res, err)
		}
	})
	t.Run("a removed member's key fails once the cache ends", func(t *testing.T) {
		if _, err := v.Verify(ctx, bobKey); err != nil {
			t.Fatal(err)
		}
		if err := svc.Remove(ctx, orgs.Actor{UserID: alice.ID}, acme.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := v.Verify(ctx, bobKey)
			if errors.Is(err, client.ErrInvalidCredential) {
				break
			}
			if err != nil {
				t.Fatalf("verify: %v, want ErrInvalidCredential", err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the removed member's key still verifies")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := v.Verify(ctx, workspace); err != nil {
			t.Errorf("the workspace key after the member left: %v", err)
		}
	})
}
