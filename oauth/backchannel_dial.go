package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errPrivateDestination means a back-channel logout delivery was refused
// at dial time because the address its URI resolved to is loopback,
// private, link-local or otherwise not on the public Internet
// (Config.BackchannelBlockPrivate). A backchannel_logout_uri is chosen by
// whoever registers the client, so without this rule any app owner could
// make the server POST to its own network (a cloud metadata service at
// 169.254.169.254, an admin port on localhost) — server-side request
// forgery (OWASP SSRF; OpenID Connect Back-Channel Logout 1.0 §2.5 leaves
// the request to the OP).
var errPrivateDestination = errors.New("destination address is not public")

// nonPublicPrefixes are ranges, beyond what netip.Addr's predicates name,
// that are not reachable public unicast addresses (IANA special-purpose
// registries, RFC 6890) or that embed an IPv4 address a gateway would
// translate to (NAT64 RFC 6052 / RFC 8215, 6to4 RFC 3056).
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (and some clouds' metadata)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 well-known prefix
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// publicAddr reports whether ip is a public unicast address a back-channel
// delivery may reach when private destinations are refused. IPv4-mapped
// IPv6 addresses (::ffff:127.0.0.1) are judged as the IPv4 address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() ||
		ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// refusePrivateDial is a net.Dialer Control hook: it runs after name
// resolution, on the very address about to be connected to, so a DNS name
// that resolves (or re-resolves, DNS rebinding) to an internal address is
// refused as surely as a literal one.
func refusePrivateDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errPrivateDestination, address)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", errPrivateDestination, ap.Addr())
	}
	return nil
}

// newBackchannelHTTPClient is the default client for logout-token
// deliveries: a 5 s timeout and, when blockPrivate is set, a dialer that
// refuses non-public destinations (refusePrivateDial) and no proxy from
// the environment (a proxy would dial the destination on our behalf,
// out of the hook's sight).
func newBackchannelHTTPClient(blockPrivate bool) *http.Client {
	if !blockPrivate {
		return &http.Client{Timeout: defaultBackchannelTimeout}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = (&net.Dialer{Timeout: defaultBackchannelTimeout, KeepAlive: 30 * time.Second, Control: refusePrivateDial}).DialContext
	return &http.Client{Timeout: defaultBackchannelTimeout, Transport: t}
}
