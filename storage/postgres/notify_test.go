package postgres

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, inv := range []storage.Invalidation{
		{Topic: storage.TopicUser, ID: "4f1c2a9e-0000-4000-8000-000000000001"},
		{Topic: storage.TopicClient, ID: "client:with:colons"},
		{Topic: storage.TopicAPIKey, ID: strings.Repeat("ab", 32)},
		{Topic: storage.TopicOrg, ID: "org_0123456789"},
		{Topic: storage.TopicSigningKey, ID: "kid-2026-11-26"},
		{Topic: storage.TopicMember, ID: storage.MemberKey("org_0123456789", "4f1c2a9e-0000-4000-8000-000000000001")},
	} {
		t.Run(string(inv.Topic), func(t *testing.T) {
			got, ok := decode(encode(inv))
			if !ok || got != inv {
				t.Fatalf("decode(encode(%+v)) = %+v, %v", inv, got, ok)
			}
		})
	}
}

func TestPayloadUnknown(t *testing.T) {
	for _, p := range []string{"", "*", "user", "user:", "session:x", ":x"} {
		t.Run(p, func(t *testing.T) {
			if inv, ok := decode(p); ok {
				t.Fatalf("decode(%q) = %+v, want not ok", p, inv)
			}
		})
	}
}

func TestChannel(t *testing.T) {
	a, b := Channel("public"), Channel("e2e_0123456789ab")
	if a == b || a != Channel("public") {
		t.Fatalf("channels %q and %q: want stable per schema and distinct across schemas", a, b)
	}
	// An unquoted identifier within NAMEDATALEN (63 bytes).
	if !strings.HasPrefix(a, channelPrefix) || len(a) > 63 || strings.ToLower(a) != a {
		t.Fatalf("channel %q", a)
	}
}
