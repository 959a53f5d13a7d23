package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/storage"
)

// The operator's organization commands: `org create`, `org list`, `org
// add-member`, `org suspend` and `user suspend`. They act as the operator
// (no person: the audit log records an empty actor), and run the same
// orgs.Service the JSON API runs.

// operator is the actor of CLI changes.
var operator = orgs.Actor{IP: "cli"}

func newOrgCommand(stdout, stderr io.Writer) *cobra.Command {
	org := &cobra.Command{Use: "org", Short: "Manage organizations", RunE: needSubcommand}
	org.AddCommand(newOrgCreateCommand(stdout, stderr), newOrgListCommand(stdout, stderr),
		newOrgAddMemberCommand(stdout, stderr), newOrgSuspendCommand(stdout, stderr))
	return org
}

// orgRun is the RunE of an org command: flags checked for bad text, then
// fn with the built app.
func orgRun(stderr io.Writer, fn func(ctx context.Context, a *server.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := flagText(cmd.Flags()); err != nil {
			return err
		}
		return withApp(cmd.Context(), stderr, false, func(a *server.App) error { return fn(cmd.Context(), a) })
	}
}

// userByName finds a person by username, with the CLI's message.
func userByName(ctx context.Context, a *server.App, username string) (*storage.User, error) {
	u, err := a.DB().GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user is named %q", username)
	}
	return u, err
}

// orgByID finds an organization, with the CLI's message.
func orgByID(ctx context.Context, a *server.App, id string) (*storage.Organization, error) {
	o, err := a.DB().GetOrg(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no organization has the id %q", id)
	}
	return o, err
}

func orgOutput(o *storage.Organization) map[string]any {
	return map[string]any{"id": o.ID, "name": o.Name, "tier": o.Tier, "suspended": o.SuspendedAt != nil}
}

var orgOrder = []string{"id", "name", "tier", "suspended", "owner"}

func newOrgCreateCommand(stdout, stderr io.Writer) *cobra.Command {
	var name, owner string
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "create --name N --owner USERNAME",
		Short: "Create an organization with its first owner",
		RunE: orgRun(stderr, func(ctx context.Context, a *server.App) error {
			if name == "" || owner == "" {
				return fmt.Errorf("%w: --name and --owner are required", errUsage)
			}
			u, err := userByName(ctx, a, owner)
			if err != nil {
				return err
			}
			o, err := a.Orgs().Create(ctx, orgs.Actor{UserID: u.ID, IP: operator.IP}, name)
			if errors.Is(err, orgs.ErrInvalid) {
				return fmt.Errorf("%w: --name: %v", errUsage, err)
			} else if err != nil {
				return err
			}
			out := orgOutput(o)
			out["owner"] = u.Username
			return output.print(stdout, orgOrder, out)
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the organization's name (required, at most 100 characters)")
	cmd.Flags().StringVar(&owner, "owner", "", "username of its first owner (required)")
	output.register(cmd)
	return cmd
}

func newOrgListCommand(stdout, stderr io.Writer) *cobra.Command {
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every organization",
		Args:  cobra.NoArgs,
		RunE: orgRun(stderr, func(ctx context.Context, a *server.App) error {
			var all []map[string]any
			after := ""
			for {
				page, err := a.Orgs().AdminList(ctx, after, 500)
				if err != nil {
					return err
				}
				for i := range page {
					all = append(all, orgOutput(&page[i]))
				}
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].ID
			}
			if output == outputTable {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tTIER\tSUSPENDED")
				for _, o := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", o["id"], o["name"], o["tier"], o["suspended"])
				}
				return tw.Flush()
			}
			if all == nil {
				all = []map[string]any{}
			}
			return printJSON(stdout, map[string]any{"orgs": all})
		}),
	}
	output.register(cmd)
	return cmd
}

func newOrgAddMemberCommand(stdout, stderr io.Writer) *cobra.Command {
	var orgID, username, role string
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "add-member --org ID --username U --role owner|admin|member|viewer",
		Short: "Make a person a member of an organization",
		RunE: orgRun(stderr, func(ctx context.Context, a *server.App) error {
			if orgID == "" || username == "" || role == "" {
				return fmt.Errorf("%w: --org, --username and --role are required", errUsage)
			}
			r, err := orgs.ParseRole(role)
			if err != nil {
				return fmt.Errorf("%w: --role must be one of owner, admin, member, viewer", errUsage)
			}
			o, err := orgByID(ctx, a, orgID)
			if err != nil {
				return err
			}
			u, err := userByName(ctx, a, username)
			if err != nil {
				return err
			}
			err = a.DB().AddMember(ctx, &storage.Membership{OrgID: o.ID, UserID: u.ID, Role: string(r)})
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("%s is already a member of %s", u.Username, o.ID)
			} else if err != nil {
				return err
			}
			a.Orgs().Record(ctx, o.ID, operator, "member.joined", u.ID, string(r)+" added by an operator")
			return output.print(stdout, []string{"org_id", "user_id", "username", "role"},
				map[string]any{"org_id": o.ID, "user_id": u.ID, "username": u.Username, "role": string(r)})
		}),
	}
	cmd.Flags().StringVar(&orgID, "org", "", "the organization's id (required)")
	cmd.Flags().StringVar(&username, "username", "", "the person's username (required)")
	cmd.Flags().StringVar(&role, "role", "", "owner, admin, member or viewer (required)")
	output.register(cmd)
	return cmd
}

func newOrgSuspendCommand(stdout, stderr io.Writer) *cobra.Command {
	var orgID string
	var off bool
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "suspend --org ID [--off]",
		Short: "Suspend an organization (every key and token of it is refused), or lift it with --off",
		RunE: orgRun(stderr, func(ctx context.Context, a *server.App) error {
			if orgID == "" {
				return fmt.Errorf("%w: --org is required", errUsage)
			}
			if _, err := orgByID(ctx, a, orgID); err != nil {
				return err
			}
			o, err := a.Orgs().SuspendOrg(ctx, operator, orgID, !off)
			if err != nil {
				return err
			}
			return output.print(stdout, orgOrder, orgOutput(o))
		}),
	}
	cmd.Flags().StringVar(&orgID, "org", "", "the organization's id (required)")
	cmd.Flags().BoolVar(&off, "off", false, "lift the suspension")
	output.register(cmd)
	return cmd
}

// newUserSuspendCommand is `user suspend`: sign-in, sessions, keys and
// tokens of a suspended person are refused.
func newUserSuspendCommand(stdout, stderr io.Writer) *cobra.Command {
	var username string
	var off bool
	output := outputJSON
	cmd := &cobra.Command{
		Use:   "suspend --username U [--off]",
		Short: "Suspend a person (sign-in, sessions, keys and tokens refused), or lift it with --off",
		RunE: orgRun(stderr, func(ctx context.Context, a *server.App) error {
			if username == "" {
				return fmt.Errorf("%w: --username is required", errUsage)
			}
			u, err := userByName(ctx, a, username)
			if err != nil {
				return err
			}
			if err := a.Orgs().SuspendUser(ctx, u.ID, !off); err != nil {
				return err
			}
			return output.print(stdout, []string{"id", "username", "suspended"},
				map[string]any{"id": u.ID, "username": u.Username, "suspended": !off})
		}),
	}
	cmd.Flags().StringVar(&username, "username", "", "the person's username (required)")
	cmd.Flags().BoolVar(&off, "off", false, "lift the suspension")
	output.register(cmd)
	return cmd
}

// checkClientOrg refuses `client create --org` for an organization that
// does not exist, or an owner who is not its member.
func checkClientOrg(ctx context.Context, a *server.App, orgID, ownerID string) error {
	if _, err := orgByID(ctx, a, orgID); err != nil {
		return err
	}
	if ownerID == "" {
		return nil
	}
	if _, err := a.DB().GetMembership(ctx, orgID, ownerID); errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("the owner %q is not a member of %s", ownerID, orgID)
	} else if err != nil {
		return err
	}
	return nil
}
